set terminal pngcairo size 3060,700 font 'sans,9'
set output 'bench/results/2026-12-07-rig4/unavailable.png'
set title 'Writes unavailable after the fault (box: quartiles, points: runs; blue resec, green resec-go, red Sentinel)'
set ylabel 'unavailable ms (log scale)'
set logscale y
set grid ytics mytics
set key off
set bmargin 6
set xrange [-0.6:25.6]
set style fill transparent solid 0.25 border
set style boxplot nooutliers
set boxwidth 0.5
set xtics rotate by -30 ("redis-crash\nresec tuned" 0, "redis-crash\nresec-go tuned" 1, "redis-crash\nsentinel tuned" 2, "agent-crash\nresec tuned" 3, "agent-crash\nresec-go tuned" 4, "switchover\nresec tuned" 5, "switchover\nresec-go tuned" 6, "switchover\nsentinel tuned" 7, "host-crash\nresec tuned" 8, "host-crash\nresec-go tuned" 9, "host-crash\nsentinel tuned" 10, "host-freeze\nresec tuned" 11, "host-freeze\nresec-go tuned" 12, "host-freeze\nsentinel tuned" 13, "host-partition\nresec tuned" 14, "host-partition\nresec-go tuned" 15, "host-partition\nsentinel tuned" 16, "consul-leader-kill\nresec tuned" 17, "consul-leader-kill\nresec-go tuned" 18, "consul-leader-kill\nsentinel tuned" 19, "consul-rolling-restart\nresec tuned" 20, "consul-rolling-restart\nresec-go tuned" 21, "consul-rolling-restart\nsentinel tuned" 22, "consul-agent-restart\nresec tuned" 23, "consul-agent-restart\nresec-go tuned" 24, "consul-agent-restart\nsentinel tuned" 25)
colors = "#1f77b4 #2ca02c #d62728 #1f77b4 #2ca02c #1f77b4 #2ca02c #d62728 #1f77b4 #2ca02c #d62728 #1f77b4 #2ca02c #d62728 #1f77b4 #2ca02c #d62728 #1f77b4 #2ca02c #d62728 #1f77b4 #2ca02c #d62728 #1f77b4 #2ca02c #d62728"
plot for [i=0:25] 'bench/results/2026-12-07-rig4/unavailable.dat' index i using (i):2 with boxplot lc rgb word(colors, i+1), \
     for [i=0:25] 'bench/results/2026-12-07-rig4/unavailable.dat' index i using ($1 + 0.12*(rand(0)-0.5)):2 with points pt 7 ps 0.7 lc rgb word(colors, i+1)
