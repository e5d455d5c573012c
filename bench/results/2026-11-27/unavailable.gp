set terminal pngcairo size 2180,700 font 'sans,9'
set output '/work/bench-run/bench/results/2026-11-27/unavailable.png'
set title 'Writes unavailable after the fault (box: quartiles, points: runs; blue resec, green resec-go, red Sentinel)'
set ylabel 'unavailable ms (log scale)'
set logscale y
set grid ytics mytics
set key off
set bmargin 6
set xrange [-0.6:17.6]
set style fill transparent solid 0.25 border
set style boxplot nooutliers
set boxwidth 0.5
set xtics rotate by -30 ("redis-crash\nresec tuned" 0, "redis-crash\nresec defaults" 1, "redis-crash\nsentinel tuned" 2, "redis-crash\nsentinel defaults" 3, "agent-crash\nresec tuned" 4, "agent-crash\nresec defaults" 5, "node-crash\nresec tuned" 6, "node-crash\nresec defaults" 7, "node-crash\nsentinel tuned" 8, "node-crash\nsentinel defaults" 9, "node-freeze\nresec tuned" 10, "node-freeze\nresec defaults" 11, "node-freeze\nsentinel tuned" 12, "node-freeze\nsentinel defaults" 13, "switchover\nresec tuned" 14, "switchover\nresec defaults" 15, "switchover\nsentinel tuned" 16, "switchover\nsentinel defaults" 17)
colors = "#1f77b4 #1f77b4 #d62728 #d62728 #1f77b4 #1f77b4 #1f77b4 #1f77b4 #d62728 #d62728 #1f77b4 #1f77b4 #d62728 #d62728 #1f77b4 #1f77b4 #d62728 #d62728"
plot for [i=0:17] '/work/bench-run/bench/results/2026-11-27/unavailable.dat' index i using (i):2 with boxplot lc rgb word(colors, i+1), \
     for [i=0:17] '/work/bench-run/bench/results/2026-11-27/unavailable.dat' index i using ($1 + 0.12*(rand(0)-0.5)):2 with points pt 7 ps 0.7 lc rgb word(colors, i+1)
