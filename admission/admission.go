// Package admission runs transactions under an adaptive concurrency limit,
// so that on hot rows they take turns instead of aborting one another.
//
// A [Controller] stands in front of every attempt of a transaction: an
// attempt holds a permit from BEGIN to COMMIT or ROLLBACK, and at most L
// attempts (L rounded) hold one at a time. Waiters are served oldest first,
// by the time of their transaction's first attempt (its ticket), so a
// retried transaction keeps its place in line; there are no random sleeps.
// The limit L adapts, every window of attempts (at least MinWindow of them
// and twice the permits, or WindowTime):
//
//   - when the fraction F of attempts that aborted (deadlock, serialization
//     failure) exceeds TargetAbort, L shrinks in proportion to F, as DCTCP
//     shrinks its window: L·(1 − F/2);
//   - when attempts take longer than they did when the database was calm,
//     Q = L·(1 − baseline/latency) estimates how many wait inside the
//     database, as TCP Vegas does; Q > QueueThreshold shrinks L by 10%,
//     but only in a window that also saw at least two aborts, since group
//     commit alone makes latency grow with concurrency on a calm database
//     (lock waits show as latency on InnoDB, as aborts on PostgreSQL);
//   - when calm (F within the target, Q < 1) and saturated (every permit in
//     use, or work waiting), L grows: doubling at first (slow start), then
//     by a quarter of a permit or L/16, whichever is more, per window. After
//     a probe that aborts punished with a decrease, the next increase waits
//     twice as many calm windows as the last one (up to 16), so that a limit
//     at its optimum is not pushed off it again and again; 5 s without a
//     decrease starts slow start again.
//
// A fleet's process (Settings.Fleet) takes the middle of [1,
// QueueThreshold] as both bounds of Q, and one abort as enough for the
// queue's cut, so that processes sharing one database settle at one limit
// (fleet.go says why).
//
// L starts at StartLimit (4) and stays within [MinLimit, MaxLimit] (and the
// pool's size, through SetMaxLimit). A transaction that aborted
// EscalateAfter times runs its next attempt alone: it waits for the
// attempts under way to finish and holds the only permit.
//
// Two settings fit a controller to a whole handle, and to a fleet:
//
//   - AdmitHotOnly: only what contends waits (retrysql's default for
//     its handles: retrysql.DefaultAdmission). A transaction's first
//     attempt asks for a permit only if its first statement picks rows that
//     recent attempts contended on (Hot, fed by Observe; hotkeys.go says
//     how keys are scored); a transaction that aborted asks from then on.
//     Cold transactions never queue behind hot ones.
//   - Fleet: processes take turns through the database. Each process's
//     limit cannot go below one attempt; when it is there and attempts
//     still abort, the controller turns its fleet gate on, and its permits
//     carry a stripe of a lock in the database (Permit.Gate) that the
//     attempt takes as its transaction's first statement, so that the
//     processes of a fleet run as many at once as the gate's adaptive
//     slots allow (fleet.go). Those locks end with the transaction, or the
//     session of a process that died.
//
// The defaults come from the contention benchmark of BENCHMARKS.md. With
// nothing to contend for, F stays 0 and L climbs to its bound: admission
// then costs a lock and two clock readings per attempt.
//
// The update rule is a pure function of the window (state.next), unit-tested
// step by step; Admit and Release are safe for concurrent use.
package admission

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of Settings.
const (
	DefaultStartLimit     = 4
	DefaultMaxLimit       = 64
	DefaultTargetAbort    = 0.30
	DefaultEscalateAfter  = 5
	DefaultQueueThreshold = 2
	DefaultMinWindow      = 32
	DefaultWindowTime     = 250 * time.Millisecond
	// MaxSettingLimit bounds StartLimit, MaxLimit, MinLimit and MinWindow:
	// a limit is kept as a float64, and a larger one would not convert
	// back to a count of permits.
	MaxSettingLimit = 1 << 30
)

// Settings configure a Controller; zero fields take the defaults.
type Settings struct {
	// StartLimit is the initial limit (default 4).
	StartLimit int
	// MaxLimit bounds the limit (default 64); RunInTx bounds it by the
	// connection pool's size as well.
	MaxLimit int
	// MinLimit is the least limit (default 1). MinLimit = MaxLimit makes
	// a fixed limit, for comparisons.
	MinLimit int
	// TargetAbort is the abort fraction above which the limit shrinks
	// (default 0.30).
	TargetAbort float64
	// QueueThreshold is the estimate of attempts waiting inside the
	// database (Q) above which a window that saw aborts shrinks the limit
	// (default 2; negative: never).
	QueueThreshold float64
	// EscalateAfter is the number of aborts of one transaction after which
	// its attempts run alone (default 5; negative: never).
	EscalateAfter int
	// MinWindow is the least number of attempts in a window (default 32);
	// a window also ends after WindowTime (default 250ms) if it holds at
	// least one attempt.
	MinWindow  int
	WindowTime time.Duration
	// AdmitHotOnly admits a transaction's first attempt only when it is hot
	// (Controller.Hot): when its first statement names a key that recent
	// attempts contended on. Other first attempts run at once, without a
	// permit; a transaction that aborted waits for permits from then on.
	// Transactions that do not contend then never wait behind those that
	// do. RunInTx finds the keys on a retrysql handle; on another handle
	// only transactions that aborted wait.
	AdmitHotOnly bool
	// Fleet, if set, names the processes that run the same transactions on
	// the same database (the replicas of a service): when this process's
	// limit is at its floor and attempts still abort (a twentieth of them,
	// and two a window), or when they abort and it sees the others take
	// turns already (Controller.FleetLook), its permits take turns with
	// theirs through a gate in the database (Permit.Gate; the package
	// documentation says how). Empty: each process on its own. Processes
	// of different fleets on one database share a gate only if their
	// names' stripes meet (FleetStripes).
	Fleet string
	// OnLimitChange, if set, is called when a window changes the number of
	// permits. It runs under the controller's lock: it
	// must be quick and must not call the controller.
	OnLimitChange func(LimitChange)
	// OnWait, if set, is called by every attempt that waited for its
	// permit, once granted, with the time it waited and whether the
	// permit is exclusive (an escalated attempt). It runs on the waiting
	// goroutine, outside the controller's lock.
	OnWait func(wait time.Duration, exclusive bool)
}

// LimitChange describes a change of the limit, and the window that caused
// it.
type LimitChange struct {
	Old, New      int     // permits before and after
	AbortFraction float64 // F: the window's aborted attempts per attempt
	Queue         float64 // Q: the estimate of attempts waiting inside the database
	Attempts      int     // attempts in the window
}

// Snapshot is the state of a Controller, for tests and telemetry.
type Snapshot struct {
	Limit       float64       // current limit
	Permits     int           // current limit rounded: the permits
	MaxLimit    int           // the limit's bound: MaxLimit, or the pool's size if lower
	F, Q        float64       // the last window's abort fraction and queue estimate
	Inflight    int           // attempts holding a permit
	Queued      int           // attempts waiting (set by Snapshot)
	Admitted    uint64        // permits granted
	Escalations uint64        // exclusive permits granted
	Windows     uint64        // windows closed
	Changes     uint64        // windows that changed the permits
	QueueWait   time.Duration // total time spent waiting for permits
	MaxWait     time.Duration // longest wait
	Fleet       bool          // the fleet gate is on
	FleetSlots  int           // its slots, while on
	Gated       uint64        // permits granted with a gate slot
	Cold        uint64        // first attempts found not hot (Hot)
}

// withDefaults checks s and fills its zero fields with the defaults.
func (s Settings) withDefaults() (Settings, error) {
	switch {
	case s.StartLimit < 0, s.MaxLimit < 0, s.MinLimit < 0, s.MinWindow < 0, s.WindowTime < 0:
		return s, errors.New("admission: negative setting")
	case s.StartLimit > MaxSettingLimit, s.MaxLimit > MaxSettingLimit, s.MinLimit > MaxSettingLimit, s.MinWindow > MaxSettingLimit:
		return s, fmt.Errorf("admission: a limit or window above %d", MaxSettingLimit)
	case s.MaxLimit > 0 && s.MinLimit > s.MaxLimit:
		return s, fmt.Errorf("admission: MinLimit %d above MaxLimit %d", s.MinLimit, s.MaxLimit)
	case math.IsNaN(s.QueueThreshold) || math.IsInf(s.QueueThreshold, 0):
		return s, fmt.Errorf("admission: queue threshold %v", s.QueueThreshold)
	case math.IsNaN(s.TargetAbort) || s.TargetAbort < 0 || s.TargetAbort >= 1:
		return s, fmt.Errorf("admission: target abort fraction %v is outside [0, 1)", s.TargetAbort)
	}
	if s.StartLimit == 0 {
		s.StartLimit = DefaultStartLimit
	}
	if s.MaxLimit == 0 {
		s.MaxLimit = DefaultMaxLimit
	}
	if s.MinLimit == 0 {
		s.MinLimit = 1
	}
	if s.MinLimit > s.MaxLimit {
		return s, fmt.Errorf("admission: MinLimit %d above the default MaxLimit %d", s.MinLimit, s.MaxLimit)
	}
	if s.TargetAbort == 0 {
		s.TargetAbort = DefaultTargetAbort
	}
	if s.QueueThreshold == 0 {
		s.QueueThreshold = DefaultQueueThreshold
	}
	if s.EscalateAfter == 0 {
		s.EscalateAfter = DefaultEscalateAfter
	}
	if s.MinWindow == 0 {
		s.MinWindow = DefaultMinWindow
	}
	if s.WindowTime == 0 {
		s.WindowTime = DefaultWindowTime
	}
	return s, nil
}
