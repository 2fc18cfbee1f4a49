package ui

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
	"github.com/patchbay/patchbay/internal/web"
)

// exceptionForm is the new-exception form as the user filled it in.
type exceptionForm struct {
	Scope, Host, Selector, Target, Value, Reason, Owner, Expires string
}

type exceptionsPage struct {
	Exceptions []patchbay.Exception
	All        bool // expired and revoked ones shown too
	Form       exceptionForm
	Error      string
	Created    int64    // id of the exception just granted
	Held       []string // what it put to held
	Running    []string // what it could not stop
	Revoked    int64
	MinExpiry  string // the date input's bounds
	MaxExpiry  string
}

// exceptions lists exceptions in force (?all=1: every one), with a form to
// grant one.
func (u *UI) exceptions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	p := exceptionsPage{All: q.Get("all") == "1", Form: exceptionForm{Scope: patchbay.ScopeHost, Target: "package"}}
	p.Created, _ = strconv.ParseInt(q.Get("created"), 10, 64)
	p.Revoked, _ = strconv.ParseInt(q.Get("revoked"), 10, 64)
	p.Held, p.Running = q["held"], q["running"]
	return u.renderExceptions(w, r, http.StatusOK, p)
}

func (u *UI) renderExceptions(w http.ResponseWriter, r *http.Request, status int, p exceptionsPage) error {
	list, err := u.svc.ListExceptions(r.Context(), p.All)
	if err != nil {
		return err
	}
	p.Exceptions = list
	now := u.now()
	p.MinExpiry = now.Format(time.DateOnly)
	p.MaxExpiry = now.Add(patchbay.MaxExceptionLength - 24*time.Hour).Format(time.DateOnly)
	return u.render(w, r, status, "exceptions", view{Title: "Exceptions", Nav: "exceptions", Data: p})
}

// createException grants the posted exception; refused input comes back
// in the form with the reason, nothing stored.
func (u *UI) createException(w http.ResponseWriter, r *http.Request) error {
	f := exceptionForm{Scope: r.PostFormValue("scope"), Host: strings.TrimSpace(r.PostFormValue("host")),
		Selector: strings.TrimSpace(r.PostFormValue("selector")), Target: r.PostFormValue("target"),
		Value: strings.TrimSpace(r.PostFormValue("value")), Reason: strings.TrimSpace(r.PostFormValue("reason")),
		Owner: strings.TrimSpace(r.PostFormValue("owner")), Expires: strings.TrimSpace(r.PostFormValue("expires"))}
	refuse := func(err error) error {
		switch patchbay.ErrorCode(err) {
		case patchbay.EINVALID, patchbay.ENOTFOUND, patchbay.ECONFLICT:
			return u.renderExceptions(w, r, http.StatusBadRequest, exceptionsPage{Form: f, Error: patchbay.ErrorMessage(err)})
		}
		return err
	}
	req := patchbay.ExceptionRequest{Reason: f.Reason, Owner: f.Owner}
	switch f.Scope {
	case patchbay.ScopeHost:
		req.Host = f.Host
		if req.Host == "" {
			return refuse(patchbay.Errorf(patchbay.EINVALID, "name the host the exception covers"))
		}
	case patchbay.ScopeSelector:
		req.Selector = f.Selector
		if req.Selector == "" {
			return refuse(patchbay.Errorf(patchbay.EINVALID, "give the selector (key=value) of the hosts it covers"))
		}
	case patchbay.ScopeAll:
		req.All = true
	default:
		return refuse(patchbay.Errorf(patchbay.EINVALID, "choose which hosts the exception covers"))
	}
	switch f.Target {
	case "package":
		req.Package = f.Value
	case "advisory":
		req.Advisory = f.Value
	default:
		return refuse(patchbay.Errorf(patchbay.EINVALID, "choose what the exception holds: a package or an advisory"))
	}
	// A date means "to the end of that day", UTC.
	day, err := time.Parse(time.DateOnly, f.Expires)
	if err != nil {
		return refuse(patchbay.Errorf(patchbay.EINVALID, "expiry %q: give a date (YYYY-MM-DD): every exception expires", f.Expires))
	}
	req.ExpiresAt = day.AddDate(0, 0, 1)
	reply, err := u.svc.CreateException(r.Context(), req)
	if err != nil {
		return refuse(err)
	}
	to := fmt.Sprintf("/exceptions?created=%d", reply.Exception.ID)
	for _, h := range reply.Held {
		to += "&held=" + urlQueryEscape(h)
	}
	for _, h := range reply.Running {
		to += "&running=" + urlQueryEscape(h)
	}
	return redirect(w, r, to)
}

// revokeException ends an exception early; the form asks why.
func (u *UI) revokeException(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return web.NotFound(r)
	}
	if _, err := u.svc.RevokeException(r.Context(), id, r.PostFormValue("reason")); err != nil {
		return err
	}
	return redirect(w, r, fmt.Sprintf("/exceptions?revoked=%d", id))
}
