package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// Cookie names. The __Host- prefix makes browsers accept them only with
// Secure, Path=/ and no Domain, so another host cannot plant one.
const (
	sessionCookie = "__Host-patchbay_session"
	loginCookie   = "__Host-patchbay_login" // CSRF token of the sign-in form
)

// formLimit caps the body of every form post.
const formLimit = 64 << 10

type sessionKey struct{}

func sessionFrom(ctx context.Context) (patchbay.Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(patchbay.Session)
	return s, ok
}

// requireSession resolves the session cookie to a principal in the
// context. Without a valid session, a GET is sent to the sign-in form and
// anything else is refused with 401. Every other method than GET and HEAD
// must carry the session's CSRF token in the form field "csrf", or is
// refused with 403.
func (u *UI) requireSession(next http.Handler) http.Handler {
	return u.handle(func(w http.ResponseWriter, r *http.Request) error {
		var secret string
		if c, err := r.Cookie(sessionCookie); err == nil {
			secret = c.Value
		}
		p, sess, err := u.svc.SessionPrincipal(r.Context(), secret)
		if patchbay.ErrorCode(err) == patchbay.EUNAUTHORIZED {
			if secret != "" {
				clearCookie(w, sessionCookie)
			}
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				if strings.HasSuffix(r.URL.Path, "/live") {
					return err // a script polling: JSON 401, not a redirect
				}
				return redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
			}
			return err
		}
		if err != nil {
			return err
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, formLimit)
			if !sameToken(r.PostFormValue("csrf"), sess.CSRFToken) {
				return patchbay.Errorf(patchbay.EFORBIDDEN, "this form has no valid CSRF token: reload the page and try again")
			}
		}
		ctx := patchbay.NewContext(r.Context(), p)
		ctx = context.WithValue(ctx, sessionKey{}, sess)
		next.ServeHTTP(w, r.WithContext(ctx))
		return nil
	})
}

func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

type loginPage struct {
	Username string
	Next     string
	Token    string
	Error    string
}

// loginForm shows the sign-in form with a fresh double-submit token: the
// same random value in a cookie and in the form, so that another site
// cannot sign a browser in to an account of its choosing.
func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if _, _, err := u.svc.SessionPrincipal(r.Context(), c.Value); err == nil {
			return redirect(w, r, safeNext(r.URL.Query().Get("next")))
		}
	}
	return u.showLogin(w, r, http.StatusOK, loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

func (u *UI) showLogin(w http.ResponseWriter, r *http.Request, status int, lp loginPage) error {
	lp.Token = rand.Text()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: lp.Token, Path: "/", MaxAge: 3600,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return u.render(w, r, status, "login", view{Title: "Sign in", Data: lp})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, formLimit)
	if err := r.ParseForm(); err != nil {
		return patchbay.Errorf(patchbay.EINVALID, "unreadable form")
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		return patchbay.Errorf(patchbay.EFORBIDDEN, "the sign-in form has no valid CSRF token: open the sign-in page again")
	}
	next := safeNext(r.PostFormValue("next"))
	username := strings.TrimSpace(r.PostFormValue("username"))
	secret, sess, err := u.svc.SignIn(r.Context(), username, r.PostFormValue("password"))
	if patchbay.ErrorCode(err) == patchbay.EUNAUTHORIZED {
		return u.showLogin(w, r, http.StatusUnauthorized, loginPage{Username: username, Next: next, Error: patchbay.ErrorMessage(err)})
	}
	if err != nil {
		return err
	}
	clearCookie(w, loginCookie)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/",
		Expires: sess.ExpiresAt, MaxAge: int(time.Until(sess.ExpiresAt).Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return redirect(w, r, next)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := u.svc.SignOut(r.Context(), c.Value); err != nil {
			return err
		}
	}
	clearCookie(w, sessionCookie)
	return redirect(w, r, "/login")
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}
