package ui

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The charts are SVG computed here and drawn by templates/_charts.html:
// no script, no third-party library; colours come from the stylesheet.

// statusBar is one horizontal bar split into active and stale hosts.
type statusBar struct {
	Width, Height     int
	ActiveW, StaleW   int
	Active, Stale     int
	ActiveLabel, Tail string
	Empty             bool
}

func newStatusBar(active, stale int) statusBar {
	const width = 600
	b := statusBar{Width: width, Height: 28, Active: active, Stale: stale}
	total := active + stale
	if total == 0 {
		b.Empty = true
		return b
	}
	b.ActiveW = active * width / total
	if active > 0 && b.ActiveW == 0 {
		b.ActiveW = 1
	}
	b.StaleW = width - b.ActiveW
	return b
}

// barChart is a horizontal bar chart with one labelled row per bar.
type barChart struct {
	Width, Height int
	LabelW        int // width of the label column
	Bars          []bar
}

type bar struct {
	Label, Full, Href string
	Value             int
	Y, W, TextY       int
	ValueX            int
}

type barInput struct {
	Label, Href string
	Value       int
}

// newBarChart lays bars out in rows; lengths are proportional to the
// largest value. Long labels are cut with an ellipsis (the full label is
// the bar's tooltip and the link's text for screen readers).
func newBarChart(in []barInput) barChart {
	const (
		width  = 600
		labelW = 200
		rowH   = 26
		maxBar = width - labelW - 50
	)
	c := barChart{Width: width, LabelW: labelW, Height: len(in) * rowH}
	top := 0
	for _, b := range in {
		top = max(top, b.Value)
	}
	for i, b := range in {
		w := 0
		if top > 0 {
			w = b.Value * maxBar / top
		}
		if b.Value > 0 && w < 2 {
			w = 2
		}
		c.Bars = append(c.Bars, bar{
			Label: shorten(b.Label, 26), Full: b.Label + ": " + strconv.Itoa(b.Value), Href: b.Href, Value: b.Value,
			Y: i*rowH + 4, W: w, TextY: i*rowH + 18, ValueX: labelW + w + 6,
		})
	}
	return c
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// trendChart is a line over an area: one point per day, the y axis from
// 0 to the largest value.
type trendChart struct {
	Width, Height int
	Left, Right   int // x of the first and last point
	Top, Bottom   int // y of the largest value and of 0
	Line, Area    string
	Dots          []trendDot
	XLabels       []axisLabel
	YMax          int
	Title         string
	Empty         bool // no finding on any day
}

type trendDot struct {
	X, Y  int
	Label string
}

type axisLabel struct {
	X      int
	Text   string
	Anchor string
}

type trendInput struct {
	Label string // the point's tooltip
	Tick  string // its label on the x axis
	Value int
}

// newTrendChart lays out points left to right.
func newTrendChart(title string, in []trendInput) trendChart {
	c := trendChart{Width: 600, Height: 190, Left: 44, Right: 590, Top: 12, Bottom: 160, Title: title, Empty: true}
	for _, p := range in {
		c.YMax = max(c.YMax, p.Value)
		if p.Value > 0 {
			c.Empty = false
		}
	}
	top := max(c.YMax, 1)
	var line strings.Builder
	for i, p := range in {
		x := c.Left
		if len(in) > 1 {
			x += i * (c.Right - c.Left) / (len(in) - 1)
		}
		y := c.Bottom - p.Value*(c.Bottom-c.Top)/top
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%d,%d", x, y)
		c.Dots = append(c.Dots, trendDot{X: x, Y: y, Label: p.Label})
		switch i {
		case 0:
			c.XLabels = append(c.XLabels, axisLabel{x, p.Tick, "start"})
		case len(in) / 2:
			c.XLabels = append(c.XLabels, axisLabel{x, p.Tick, "middle"})
		case len(in) - 1:
			c.XLabels = append(c.XLabels, axisLabel{x, p.Tick, "end"})
		}
	}
	c.Line = line.String()
	if len(c.Dots) > 0 {
		c.Area = fmt.Sprintf("%d,%d %s %d,%d", c.Dots[0].X, c.Bottom, c.Line, c.Dots[len(c.Dots)-1].X, c.Bottom)
	}
	return c
}

// stackBar is one horizontal bar split into coloured parts, for a
// rollout's hosts by state.
type stackBar struct {
	Width, Height int
	Parts         []stackPart
	Title         string
}

type stackPart struct {
	Class string
	X, W  int
	Label string
}

type stackInput struct {
	Class, Label string
	N            int
}

func newStackBar(title string, in []stackInput) stackBar {
	const width = 300
	b := stackBar{Width: width, Height: 14, Title: title}
	total := 0
	for _, p := range in {
		total += p.N
	}
	if total == 0 {
		return b
	}
	x, seen := 0, 0
	for _, p := range in {
		if p.N == 0 {
			continue
		}
		seen += p.N
		end := seen * width / total // cumulative, so the parts always add up to the width
		b.Parts = append(b.Parts, stackPart{Class: p.Class, X: x, W: max(end-x, 1), Label: p.Label})
		x = end
	}
	return b
}
