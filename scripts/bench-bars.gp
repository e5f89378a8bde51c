# SPDX-License-Identifier: GPL-2.0
#
# Clustered bars with min..max error bars, for the plots of
# scripts/bench_report.py:
#
#   gnuplot -e "datafile='X.dat'; outfile='X.png'; plottitle='...';
#               ylab='...'; nseries=2; t1='vhx'; t2='ref'; logy=0" \
#           scripts/bench-bars.gp
#
# X.dat: one row per test, tab separated: label, then median, min, max of
# each series (nseries of them, at most 3).  A missing measurement is "?".
# With reference=1 a dashed line is drawn at y = 1 (for ratio plots).

if (!exists("nseries")) nseries = 2
if (!exists("logy")) logy = 0
if (!exists("reference")) reference = 0
if (!exists("t1")) t1 = "vhx"
if (!exists("t2")) t2 = "reference"
if (!exists("t3")) t3 = ""

set terminal pngcairo size 1100,600 noenhanced font "sans,10"
set output outfile
set datafile separator "\t"
set datafile missing "?"
set title plottitle
set ylabel ylab
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.7 border -1
set boxwidth 0.9
set key top left
set grid ytics
set xtics rotate by 25 right
set bmargin 8
set lmargin 12
if (logy) {
	set logscale y
} else {
	set yrange [0:*]
}
if (reference) {
	set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "black" front
}

if (nseries == 1) {
	plot datafile using 2:3:4:xtic(1) title t1 lc rgb "#1f77b4"
} else {
	if (nseries == 2) {
		plot datafile using 2:3:4:xtic(1) title t1 lc rgb "#1f77b4", \
		     '' using 5:6:7 title t2 lc rgb "#ff7f0e"
	} else {
		plot datafile using 2:3:4:xtic(1) title t1 lc rgb "#1f77b4", \
		     '' using 5:6:7 title t2 lc rgb "#ff7f0e", \
		     '' using 8:9:10 title t3 lc rgb "#2ca02c"
	}
}
