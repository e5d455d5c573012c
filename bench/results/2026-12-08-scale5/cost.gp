# gnuplot cost.gp, run in this directory (resec_bench scale-report does)
set terminal pngcairo size 1100,760 font 'sans,9'
set output 'cost.png'
set multiplot layout 2,2 title 'N groups of 3 agents on one 3-server Consul cluster (loopback, 2 cores)'
set logscale x
set xlabel 'groups N'
set grid
set key top left font ',8'
set datafile missing 'NaN'
array T[4]
T[1] = 'resec tuned 50 SET/s/group'
T[2] = 'resec tuned idle'
T[3] = 'resec-go tuned 50 SET/s/group'
T[4] = 'resec-go tuned idle'
set title 'Consul HTTP requests/min per agent'
set logscale y
plot for [i=1:4] 'cost.dat' index (i-1) using 1:2 with linespoints lw 2 pt 7 title T[i]
set title 'Raft applies/s (whole cluster, leader telemetry)'
set logscale y
plot for [i=1:4] 'cost.dat' index (i-1) using 1:3 with linespoints lw 2 pt 7 title T[i]
set title 'Consul servers CPU % of one core (sum of 3)'
unset logscale y
plot for [i=1:4] 'cost.dat' index (i-1) using 1:4 with linespoints lw 2 pt 7 title T[i]
set title 'redis-crash failover of one group, ms (p50)'
unset logscale y
plot for [i=1:4] 'cost.dat' index (i-1) using 1:5 with linespoints lw 2 pt 7 title T[i]
unset multiplot
