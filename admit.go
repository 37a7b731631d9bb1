package retrysql

import (
	"context"
	"database/sql"
	"time"

	"github.com/retrysql/retrysql/admission"
)

// admitter admits the attempts of one RunInTx (WithAdmission).
type admitter struct {
	ctl           *admission.Controller
	escalateAfter int
	hotOnly       bool  // the controller admits first attempts only when hot
	fleet         bool  // the controller has a fleet name
	gate          *gate // the handle's fleet gate, if the controller has a fleet
	p             *policy
	site          uintptr // where the transaction comes from: fn's code
	ticket        int64   // when the first attempt began (UnixNano), 0 before
	aborts        int     // contention errors so far
	// pool is the handle RunInTx runs on, when it is a *sql.DB: its pool's
	// size bounds the first statements that wait for a permit.
	pool *sql.DB

	// The attempt under way.
	permit admission.Permit
	held   bool // permit is held
	// busy: the attempt found its first statement hot and no permit free
	// (firstStatement): it ends with errHotBusy, and its replay waits for
	// a permit before BEGIN.
	busy bool
	// ranHeld says the attempt that ended last held a permit, or asked for
	// one (busy): its contention error is paced by the permits
	// (txSite.paced).
	ranHeld bool
	began   time.Time // when it started (in a fleet only)
	keys    []uint64  // its first statement's keys (hotOnly), in keyBuf
	keyBuf  [maxKeys]uint64
}

// admitFor puts the RunInTx of t under ctl, unless ctx already holds a
// permit of ctl (a RunInTx inside another's fn would wait for itself), and
// bounds ctl's limit by db's pool size.
func (t *txSite) admitFor(ctx context.Context, r *Retrier, db TxBeginner, ctl *admission.Controller, site uintptr) {
	if ctl == nil || ctx.Value(permitKey{ctl}) != nil {
		return
	}
	t.adm = admitter{ctl: ctl, escalateAfter: ctl.EscalateAfter(), hotOnly: ctl.AdmitsHotOnly(), p: t.policy, site: site}
	t.adm.pool, _ = db.(*sql.DB)
	if ctl.Fleet() != "" {
		t.adm.fleet, t.adm.gate = true, gateOf(db)
	}
	if t.adm.hotOnly || t.adm.gate != nil {
		t.facts.hook = t
	}
	r.boundByPool(db, ctl)
}

// start begins an attempt: it waits for the attempt's permit unless the
// controller admits first attempts only when hot, the transaction has not
// aborted yet and its site is not likely hot (the first statement decides
// then), and makes the fleet gate ready if the controller has turned it
// on.
func (a *admitter) start(ctx context.Context) error {
	a.held, a.keys, a.busy = false, nil, false
	if a.fleet {
		a.began = time.Now()
	}
	if a.ticket == 0 {
		// The transaction's place in line, kept by its replays also when
		// its first attempt ran without a permit.
		a.ticket = time.Now().UnixNano()
	}
	if a.gate != nil && a.ctl.FleetOn() {
		a.gate.prepare(ctx)
	}
	if a.hotOnly && a.aborts == 0 && !a.ctl.LikelyHot(a.site) {
		return nil
	}
	return a.hold(ctx)
}

// hold waits for a permit for the attempt: exclusive once the transaction
// has been aborted escalateAfter times.
func (a *admitter) hold(ctx context.Context) error {
	p, err := a.ctl.Admit(ctx, a.ticket, a.escalateAfter >= 0 && a.aborts >= a.escalateAfter)
	if err != nil {
		return err
	}
	a.ticket, a.permit, a.held = p.Ticket(), p, true
	return nil
}

// end ends an attempt that returned err: it releases the permit, if held,
// and counts the attempt's keys, if known: contended if it aborted, waited
// for its permit or, in a fleet, ran without one but slowly
// (Controller.Slow).
func (a *admitter) end(err error) {
	aborted := err != nil && a.p.classify(err).Contention
	if aborted {
		a.aborts++
	}
	if a.keys != nil {
		// A fleet's process also counts a first attempt that ran free but
		// waited inside the database for rows the others hold.
		slow := !a.held && a.fleet && !aborted && a.ctl.Slow(time.Since(a.began))
		a.ctl.Observe(a.keys, aborted || a.held && a.permit.Waited() || slow)
	}
	a.ranHeld = a.held || a.busy
	if a.held {
		a.permit.Release(aborted)
		a.held = false
	}
}

// mark returns ctx marked as holding a permit of the admitter's
// controller.
func (a *admitter) mark(ctx context.Context) context.Context {
	return context.WithValue(ctx, permitKey{a.ctl}, true)
}

// permitKey marks a context whose transaction holds a permit of ctl.
type permitKey struct{ ctl *admission.Controller }

// boundByPool bounds ctl's limit by db's pool size, checked at most once a
// second per Retrier for its own controller; another (a call's
// WithAdmission) is bounded at every call, since the Retrier's last check
// says nothing of it.
func (r *Retrier) boundByPool(db TxBeginner, ctl *admission.Controller) {
	h, ok := db.(*sql.DB)
	if !ok {
		return
	}
	if ctl == r.admit {
		now := time.Now().UnixNano()
		last := r.poolChecked.Load()
		if now-last < int64(time.Second) || !r.poolChecked.CompareAndSwap(last, now) {
			return
		}
	}
	ctl.SetMaxLimit(h.Stats().MaxOpenConnections)
}
