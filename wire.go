package patchbay

// Request and response bodies of the API that are not domain objects of
// their own. They live here so that the client (and so the agent) does not
// import any server package.

// EnrollRequest is what an agent sends to enrol.
type EnrollRequest struct {
	Token           string `json:"token"`
	MachineID       string `json:"machine_id"`
	Hostname        string `json:"hostname"`
	IntervalSeconds int64  `json:"interval_seconds"`
	// Image is set by an agent that inventories an image (--root with
	// --once): the image's label. The host record is then labelled
	// kind=image and image=LABEL.
	Image string `json:"image,omitempty"`
}

// EnrollResponse carries the host's new credential, shown once.
type EnrollResponse struct {
	HostID     int64  `json:"host_id"`
	Credential string `json:"credential"`
	Created    bool   `json:"created"`
}

// CreateTokenRequest is the body of POST /api/v1/tokens.
type CreateTokenRequest struct {
	ExpiresIn string            `json:"expires_in"` // "24h", "7d"; empty: never
	Uses      int               `json:"uses"`       // 0: unlimited
	Labels    map[string]string `json:"labels"`
}

// CreateTokenResponse carries the token secret, shown once.
type CreateTokenResponse struct {
	Token string `json:"token"`
	EnrollToken
}

// ErrorResponse is the JSON shape of every API error.
type ErrorResponse struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and message of an API error.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// JobsPoll is the reply of GET /api/v1/agent/jobs?wait=SECONDS, the
// agent's long poll: the jobs queued for the calling host, or none once
// the wait (at most 60 s) is over. A job stays queued until its result is
// posted, so a job delivered to an agent that died is delivered again (the
// agent's executor answers a repeated job id with its stored result).
type JobsPoll struct {
	Jobs []Job `json:"jobs"`
	// Blocked are the versions blocked fleet-wide now: the agent refuses
	// a job that would install one, however it got the job.
	Blocked []PackageVersion `json:"blocked"`
}

// The result of a job is posted as a JobResult to
// POST /api/v1/agent/jobs/{id}/result (204 on success; 404 for a job that
// is not the caller's; posting the same result twice is not an error).
