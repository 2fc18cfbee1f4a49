package ui

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is one parsed page: the layout, the shared partials and the page's
// own file.
type page struct{ t *template.Template }

var funcs = template.FuncMap{
	"ago":      ago,
	"stamp":    stamp,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"duration": uptime,
	"add":      func(a, b int) int { return a + b },
	"join":     strings.Join,
	"event":    eventText,
	"age":      durationText,
	"days":     patchbay.FormatDuration,
	"list":     func(s ...string) []string { return s },
	"indays":   patchbay.FormatDays,
	"percent":  percentText,
	"periods":  func() []string { return slaPeriods },
}

// mustParsePages parses every page template with the layout and partials.
func mustParsePages() map[string]*page {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*page{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t := template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n))
		pages[strings.TrimSuffix(base, ".html")] = &page{t: t}
	}
	return pages
}

// view is what every page template gets: the page's own data and what the
// layout needs.
type view struct {
	Title string
	User  string // signed-in username; "" on the sign-in page
	CSRF  string // this session's token for forms
	Nav   string // which menu entry is current
	Now   time.Time
	Flash string
	Data  any
}

// render writes page name with status, rendering to a buffer first so a
// template error is a clean 500 instead of half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) error {
	p, ok := u.pages[name]
	if !ok {
		return fmt.Errorf("no page template %q", name)
	}
	if s, ok := sessionFrom(r.Context()); ok {
		v.User, v.CSRF = s.Username, s.CSRFToken
	}
	v.Now = u.now()
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}

// handle adapts a handler that returns an error, writing the error as an
// HTML page with the status of web's one code->status table. A request
// without a session that asks for a page is sent to the sign-in form.
func (u *UI) handle(h web.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status := web.Status(err)
		if status >= 500 {
			u.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		if strings.HasSuffix(r.URL.Path, "/live") {
			web.WriteError(u.logger, w, r, err)
			return
		}
		title := http.StatusText(status)
		if err := u.render(w, r, status, "error", view{Title: title, Data: errorPage{Status: status, Title: title, Message: patchbay.ErrorMessage(err)}}); err != nil {
			u.logger.ErrorContext(r.Context(), "render error page", "err", err)
			http.Error(w, patchbay.ErrorMessage(err), status)
		}
	})
}

type errorPage struct {
	Status         int
	Title, Message string
}

// static serves the embedded CSS and JavaScript.
func (u *UI) static(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	b, err := staticFS.ReadFile("static/" + name)
	if errors.Is(err, fs.ErrNotExist) || strings.Contains(name, "/") {
		return web.NotFound(r)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
	return nil
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// redirect answers a form post with 303 See Other (post-redirect-get).
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// ago renders how long before now t was, coarsely ("3 min ago").
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days ago"
}

// stamp renders a time in UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// uptime renders seconds as days, hours and minutes.
func uptime(secs int64) string {
	d := time.Duration(secs) * time.Second
	days := int(d.Hours()) / 24
	h := int(d.Hours()) % 24
	m := int(d.Minutes()) % 60
	if days > 0 {
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	}
	return fmt.Sprintf("%dh %dm", h, m)
}

// safeNext returns next if it is a path on this server, else "/": the
// sign-in form must not become an open redirect.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}
