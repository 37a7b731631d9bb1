package main

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/retrysql/retrysql/admission"
)

// variantSpec is one -variants setting: t<abort target>q<queue
// threshold>w<min window>, then optionally s<start limit>, h
// (AdmitHotOnly) and f (the fleet gate, Fleet "contention", as the fleet's
// strategies name it), in that order.
var variantSpec = regexp.MustCompile(`^t([0-9.]+)q(-?[0-9.]+)w([0-9]+)(?:s([0-9]+))?(h?)(f?)$`)

// parseVariant reads one -variants setting (variantSpec) into admission's
// settings and the strategy's name.
func parseVariant(f string) (admission.Settings, string, error) {
	m := variantSpec.FindStringSubmatch(f)
	if m == nil {
		return admission.Settings{}, "", fmt.Errorf("want t<abort target>q<queue threshold>w<min window>[s<start limit>][h][f], got %q", f)
	}
	v, err1 := strconv.ParseFloat(m[1], 64)
	q, err2 := strconv.ParseFloat(m[2], 64)
	w, err3 := strconv.Atoi(m[3])
	if err1 != nil || err2 != nil || err3 != nil || v <= 0 || v >= 1 || w < 1 {
		return admission.Settings{}, "", fmt.Errorf("%q: the abort target is in (0, 1) and the window at least 1", f)
	}
	set := admission.Settings{TargetAbort: v, QueueThreshold: q, MinWindow: w}
	name := fmt.Sprintf("admission t%g q%g w%d", v, q, w)
	if m[4] != "" {
		n, err := strconv.Atoi(m[4])
		if err != nil || n < 1 {
			return admission.Settings{}, "", fmt.Errorf("%q: the start limit is at least 1", f)
		}
		set.StartLimit = n
		name += fmt.Sprintf(" s%d", n)
	}
	if m[5] != "" {
		set.AdmitHotOnly = true
		name += " hot keys"
	}
	if m[6] != "" {
		set.Fleet = "contention"
		name += " + fleet gate"
	}
	if _, err := admission.New(set); err != nil {
		return admission.Settings{}, "", fmt.Errorf("%q: %w", f, err)
	}
	return set, name, nil
}
