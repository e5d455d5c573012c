set terminal pngcairo size 1300,700 font 'sans,9'
set output 'bench/results/2026-12-07-resec-go-smoke/unavailable.png'
set title 'Writes unavailable after the fault (box: quartiles, points: runs; blue resec, green resec-go, red Sentinel)'
set ylabel 'unavailable ms (log scale)'
set logscale y
set grid ytics mytics
set key off
set bmargin 6
set xrange [-0.6:9.6]
set style fill transparent solid 0.25 border
set style boxplot nooutliers
set boxwidth 0.5
set xtics rotate by -30 ("redis-crash\nresec-go tuned" 0, "redis-crash\nresec-go defaults" 1, "agent-crash\nresec-go tuned" 2, "agent-crash\nresec-go defaults" 3, "node-crash\nresec-go tuned" 4, "node-crash\nresec-go defaults" 5, "node-freeze\nresec-go tuned" 6, "node-freeze\nresec-go defaults" 7, "switchover\nresec-go tuned" 8, "switchover\nresec-go defaults" 9)
colors = "#2ca02c #2ca02c #2ca02c #2ca02c #2ca02c #2ca02c #2ca02c #2ca02c #2ca02c #2ca02c"
plot for [i=0:9] 'bench/results/2026-12-07-resec-go-smoke/unavailable.dat' index i using (i):2 with boxplot lc rgb word(colors, i+1), \
     for [i=0:9] 'bench/results/2026-12-07-resec-go-smoke/unavailable.dat' index i using ($1 + 0.12*(rand(0)-0.5)):2 with points pt 7 ps 0.7 lc rgb word(colors, i+1)
