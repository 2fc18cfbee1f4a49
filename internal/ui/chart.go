package ui

import (
	"strconv"
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
