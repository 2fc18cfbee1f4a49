package ui

import (
	"net/http"
	"strings"
	"time"

	"github.com/patchbay/patchbay"
)

// policyForm is the new-policy form as the user filled it in.
type policyForm struct {
	Name, Description, Classification, MinSeverity, MinAge, Approve, Reject string
	ApproveKEV                                                              bool
}

type policiesPage struct {
	Policies []patchbay.Policy
	Form     policyForm
	Error    string // why the last post was refused
	Created  string // name of the policy just created
}

// policies lists the patch policies, with a form to create one.
func (u *UI) policies(w http.ResponseWriter, r *http.Request) error {
	return u.renderPolicies(w, r, http.StatusOK, policiesPage{Form: policyForm{Classification: patchbay.ClassSecurity, MinAge: "0"},
		Created: r.URL.Query().Get("created")})
}

func (u *UI) renderPolicies(w http.ResponseWriter, r *http.Request, status int, p policiesPage) error {
	list, err := u.svc.ListPolicies(r.Context())
	if err != nil {
		return err
	}
	p.Policies = list
	return u.render(w, r, status, "policies", view{Title: "Policies", Nav: "policies", Data: p})
}

// createPolicy stores the posted policy; refused input comes back in the
// form with the reason, nothing stored.
func (u *UI) createPolicy(w http.ResponseWriter, r *http.Request) error {
	f := policyForm{
		Name: strings.TrimSpace(r.PostFormValue("name")), Description: strings.TrimSpace(r.PostFormValue("description")),
		Classification: r.PostFormValue("classification"), MinSeverity: r.PostFormValue("min_severity"),
		MinAge: strings.TrimSpace(r.PostFormValue("min_age")), Approve: r.PostFormValue("approve"), Reject: r.PostFormValue("reject"),
		ApproveKEV: r.PostFormValue("approve_kev") == "on",
	}
	refuse := func(err error) error {
		if patchbay.ErrorCode(err) != patchbay.EINVALID && patchbay.ErrorCode(err) != patchbay.ECONFLICT {
			return err
		}
		return u.renderPolicies(w, r, http.StatusBadRequest, policiesPage{Form: f, Error: patchbay.ErrorMessage(err)})
	}
	age, err := time.Duration(0), error(nil)
	if f.MinAge != "" {
		age, err = patchbay.ParseDuration(f.MinAge)
	}
	if err != nil {
		return refuse(patchbay.Errorf(patchbay.EINVALID, "minimum age %q: want a number of days (7d), hours (36h) or 0", f.MinAge))
	}
	p := patchbay.Policy{Name: f.Name, Description: f.Description, Classification: f.Classification,
		MinSeverity: patchbay.Severity(f.MinSeverity), MinAge: age, Approve: strings.Fields(strings.ReplaceAll(f.Approve, ",", " ")),
		Reject: strings.Fields(strings.ReplaceAll(f.Reject, ",", " ")), ApproveKEV: f.ApproveKEV}
	if _, err := u.svc.CreatePolicy(r.Context(), p); err != nil {
		return refuse(err)
	}
	return redirect(w, r, "/policies?created="+urlQueryEscape(p.Name))
}

// durationText writes a policy's minimum age for people.
func durationText(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return patchbay.FormatDuration(d)
}
