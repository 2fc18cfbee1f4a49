package deb

import (
	"bytes"
	"fmt"
	"strings"
)

// paragraph is one stanza of a Debian control file (deb822): fields by
// lower-cased name, continuation lines joined with "\n".
type paragraph struct {
	line   int // first line, from 1
	fields map[string]string
}

func (p paragraph) get(name string) string { return p.fields[strings.ToLower(name)] }

// parseControl splits a Debian control file such as /var/lib/dpkg/status
// into paragraphs. It accepts CRLF line ends, lines of only blanks between
// paragraphs, and '#' comment lines; it refuses what dpkg would refuse: a
// line that is neither a field nor a continuation, a continuation before
// any field, and a field given twice in one paragraph.
func parseControl(data []byte) ([]paragraph, error) {
	var (
		paras []paragraph
		cur   *paragraph
		last  string // lower-cased name of the field continuation lines extend
	)
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineNo++
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(bytes.Trim(line, " \t")) == 0:
			cur, last = nil, ""
			continue
		case line[0] == '#':
			continue
		case line[0] == ' ' || line[0] == '\t':
			if cur == nil || last == "" {
				return nil, fmt.Errorf("line %d: continuation line outside a field", lineNo)
			}
			cur.fields[last] += "\n" + strings.TrimRight(string(line[1:]), " \t")
			continue
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") || name[0] == '-' {
			return nil, fmt.Errorf("line %d: not a field: %q", lineNo, truncate(string(line), 60))
		}
		if cur == nil {
			paras = append(paras, paragraph{line: lineNo, fields: map[string]string{}})
			cur = &paras[len(paras)-1]
		}
		key := strings.ToLower(name)
		if _, dup := cur.fields[key]; dup {
			return nil, fmt.Errorf("line %d: field %s given twice in one paragraph", lineNo, name)
		}
		cur.fields[key] = strings.Trim(value, " \t")
		last = key
	}
	return paras, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
