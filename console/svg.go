package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// sparkline draws samples as a small inline SVG line, highest value at
// the top; nothing for fewer than two.
func sparkline(s []Sample) template.HTML {
	const w, h = 120.0, 24.0
	if len(s) < 2 {
		return ""
	}
	var top int64 = 1
	for _, v := range s {
		top = max(top, v.Value)
	}
	var pts strings.Builder
	for i, v := range s {
		x := w * float64(i) / float64(len(s)-1)
		y := h - 1 - (h-2)*float64(v.Value)/float64(top)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="last %d readings, up to %d"><polyline points="%s"/></svg>`,
		w, h, w, h, len(s), top, strings.TrimSpace(pts.String())))
}

// breakerTimeline draws a breaker's recent transitions as coloured bands
// over the time they cover, up to now: one band per state, its colour the
// state's class in console.css.
func breakerTimeline(ts []TransitionView) template.HTML {
	const w, h = 240.0, 14.0
	if len(ts) == 0 {
		return ""
	}
	start, end := ts[0].At, time.Now()
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	span := end.Sub(start).Seconds()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%d transitions since %s">`,
		w, h, w, h, len(ts), stamp(start))
	for i, t := range ts {
		to := end
		if i+1 < len(ts) {
			to = ts[i+1].At
		}
		x0 := w * t.At.Sub(start).Seconds() / span
		x1 := w * to.Sub(start).Seconds() / span
		fmt.Fprintf(&b, `<rect class="st-%s" x="%.1f" y="0" width="%.1f" height="%g"><title>%s at %s (%s)</title></rect>`,
			template.HTMLEscapeString(t.To), x0, max(x1-x0, 1), h,
			template.HTMLEscapeString(t.To), stamp(t.At), template.HTMLEscapeString(t.Reason))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
