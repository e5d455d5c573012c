set terminal pngcairo size 1190,700 font 'sans,9'
set output '/work/main/bench/results/2026-11-27/unavailable.png'
set title 'Writes unavailable after the fault (box: quartiles, points: runs; blue resec, green resec-go, red Sentinel)'
set ylabel 'unavailable ms (log scale)'
set logscale y
set grid ytics mytics
set key off
set bmargin 6
set xrange [-0.6:8.6]
set style fill transparent solid 0.25 border
set style boxplot nooutliers
set boxwidth 0.5
set xtics rotate by -30 ("redis-crash\nresec tuned" 0, "redis-crash\nsentinel tuned" 1, "agent-crash\nresec tuned" 2, "node-crash\nresec tuned" 3, "node-crash\nsentinel tuned" 4, "node-freeze\nresec tuned" 5, "node-freeze\nsentinel tuned" 6, "switchover\nresec tuned" 7, "switchover\nsentinel tuned" 8)
colors = "#1f77b4 #d62728 #1f77b4 #1f77b4 #d62728 #1f77b4 #d62728 #1f77b4 #d62728"
plot for [i=0:8] '/work/main/bench/results/2026-11-27/unavailable.dat' index i using (i):2 with boxplot lc rgb word(colors, i+1), \
     for [i=0:8] '/work/main/bench/results/2026-11-27/unavailable.dat' index i using ($1 + 0.12*(rand(0)-0.5)):2 with points pt 7 ps 0.7 lc rgb word(colors, i+1)
