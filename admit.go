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
	p             *policy
	ticket        int64 // when the first attempt asked (UnixNano), 0 before
	aborts        int   // contention errors so far
}

// admitFor puts the RunInTx of t under ctl, unless ctx already holds a
// permit of ctl (a RunInTx inside another's fn would wait for itself), and
// bounds ctl's limit by db's pool size.
func (t *txSite) admitFor(ctx context.Context, r *Retrier, db TxBeginner, ctl *admission.Controller) {
	if ctl == nil || ctx.Value(permitKey{ctl}) != nil {
		return
	}
	t.adm = admitter{ctl: ctl, escalateAfter: ctl.EscalateAfter(), p: t.policy}
	r.boundByPool(db, ctl)
}

// admit waits for the permit of the next attempt: exclusive once the
// transaction has been aborted escalateAfter times.
func (a *admitter) admit(ctx context.Context) (admission.Permit, error) {
	p, err := a.ctl.Admit(ctx, a.ticket, a.escalateAfter >= 0 && a.aborts >= a.escalateAfter)
	a.ticket = p.Ticket()
	return p, err
}

// release ends an attempt that returned err.
func (a *admitter) release(p admission.Permit, err error) {
	aborted := err != nil && a.p.classify(err).Contention
	if aborted {
		a.aborts++
	}
	p.Release(aborted)
}

// mark returns ctx marked as holding a permit of the admitter's
// controller.
func (a *admitter) mark(ctx context.Context) context.Context {
	return context.WithValue(ctx, permitKey{a.ctl}, true)
}

// permitKey marks a context whose transaction holds a permit of ctl.
type permitKey struct{ ctl *admission.Controller }

// boundByPool bounds ctl's limit by db's pool size, checked at most once a
// second per Retrier.
func (r *Retrier) boundByPool(db TxBeginner, ctl *admission.Controller) {
	h, ok := db.(*sql.DB)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	last := r.poolChecked.Load()
	if now-last < int64(time.Second) || !r.poolChecked.CompareAndSwap(last, now) {
		return
	}
	ctl.SetMaxLimit(h.Stats().MaxOpenConnections)
}
