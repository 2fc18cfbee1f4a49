package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// EnterCommand returns the command line that runs argv (an interactive
// shell when empty) inside host of the lab called labName, from any
// process: for `patchbay lab shell`. The host must be running. Run it with
// the terminal attached.
func EnterCommand(ctx context.Context, labName, host string, argv ...string) ([]string, error) {
	data, err := os.ReadFile(statePath(labName))
	if err != nil {
		return nil, fmt.Errorf("enter %s/%s: %w", labName, host, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("enter %s/%s: %w", labName, host, err)
	}
	for _, h := range st.Hosts {
		if h.Name != host {
			continue
		}
		pid1, err := hostInit(ctx, h.Netns)
		if err != nil {
			return nil, fmt.Errorf("enter %s/%s: %w", labName, host, err)
		}
		if len(argv) == 0 {
			argv = []string{"/bin/bash", "-l"}
		}
		return append([]string{"nsenter", "--target", strconv.Itoa(pid1), "--mount", "--uts", "--net", "--pid", "--root", "--wd", "--"}, argv...), nil
	}
	return nil, fmt.Errorf("enter %s/%s: no such host", labName, host)
}

// hostInit finds the root-namespace pid of the PID 1 of the boot running
// in a host's network namespace.
func hostInit(ctx context.Context, netns string) (int, error) {
	for _, pid := range netnsPids(ctx, netns) {
		if nsPIDOf(pid) == 1 {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("host in %s is not running", netns)
}
