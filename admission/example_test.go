package admission_test

import (
	"context"
	"fmt"
	"time"

	"github.com/retrysql/retrysql/admission"
)

func ExampleNew() {
	// retrysql.WithAdmission(ctl) makes RunInTx do this for every attempt;
	// the controller can also be used directly.
	ctl, err := admission.New(admission.Settings{StartLimit: 2})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	first, _ := ctl.Admit(ctx, 0, false)
	second, _ := ctl.Admit(ctx, 0, false)
	fmt.Println(ctl.Snapshot().Inflight, ctl.Snapshot().Permits) // both permits are taken

	third := make(chan admission.Permit)
	go func() {
		p, _ := ctl.Admit(ctx, 0, false) // waits for a permit
		third <- p
	}()
	first.Release(true) // a deadlock aborted the first: its permit goes to the third
	p := <-third
	second.Release(false)
	p.Release(false)
	s := ctl.Snapshot()
	fmt.Println(s.Admitted, s.Inflight)
	// Output:
	// 2 2
	// 3 0
}

func ExampleController_Hot() {
	// RunInTx does this at a transaction's first statement when the
	// controller admits first attempts only when hot.
	ctl, err := admission.New(admission.Settings{AdmitHotOnly: true})
	if err != nil {
		panic(err)
	}
	row := []uint64{42} // the caller's hash of a statement and its WHERE argument
	fmt.Println(ctl.Hot(0, row))
	ctl.Observe(row, true) // two attempts that named it were aborted
	ctl.Observe(row, true)
	fmt.Println(ctl.Hot(0, row))
	// Output:
	// false
	// true
}

func ExampleController_Slow() {
	// RunInTx does this, in a fleet, when a first attempt that ran
	// without a permit ends: a slow one counts as contended (Observe).
	ctl, err := admission.New(admission.Settings{AdmitHotOnly: true, Fleet: "orders", MinWindow: 1, WindowTime: time.Nanosecond})
	if err != nil {
		panic(err)
	}
	fmt.Println(ctl.Slow(time.Hour)) // no calm attempt measured yet
	p, err := ctl.Admit(context.Background(), 0, false)
	if err != nil {
		panic(err)
	}
	time.Sleep(time.Millisecond)
	p.Release(false) // one attempt of about a millisecond: the calm one
	fmt.Println(ctl.Slow(time.Hour), ctl.Slow(0))
	// Output:
	// false
	// true false
}

func ExamplePermit_Gate() {
	// A controller of the fleet "orders" whose limit is at its floor and
	// whose attempts keep aborting turns its gate on: each permit then
	// names the gate stripe its transaction locks first (RunInTx does).
	ctl, err := admission.New(admission.Settings{StartLimit: 1, MaxLimit: 1, MinWindow: 4, Fleet: "orders"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 4 {
		p, _ := ctl.Admit(ctx, 0, false)
		p.Release(true) // aborted
	}
	p, _ := ctl.Admit(ctx, 0, false)
	stripe, ok := p.Gate()
	fmt.Println(ctl.FleetOn(), ok, stripe >= 0 && stripe < admission.FleetStripes)
	p.Gated(200 * time.Microsecond) // how long taking the stripe's lock took
	p.Release(false)
	// Output:
	// true true true
}

func ExampleController_FleetLook() {
	// A controller of the fleet "orders" above its floor whose attempts
	// abort asks whether the fleet's gate is in use; told it is (RunInTx
	// looks in the database), it joins the others at its next window with
	// aborts, without waiting for its limit to reach the floor.
	ctl, err := admission.New(admission.Settings{StartLimit: 4, MinWindow: 4, Fleet: "orders"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	aborted := func(n int) {
		for range n {
			p, _ := ctl.Admit(ctx, 0, false)
			p.Release(true)
		}
	}
	aborted(8) // a window of aborts: the limit halves to 2
	_, look := ctl.FleetLook()
	fmt.Println(look, ctl.FleetOn())
	ctl.FleetSeen(true) // another process holds or waits for the gate
	aborted(4)
	fmt.Println(ctl.FleetOn(), ctl.Snapshot().Permits)
	// Output:
	// true false
	// true 1
}

func ExampleController_TryAdmit() {
	// RunInTx does this at a hot first statement: the attempt holds a
	// connection, so it takes a permit only if one is free, and otherwise
	// begins again, waiting for its permit before BEGIN.
	ctl, err := admission.New(admission.Settings{StartLimit: 1, MaxLimit: 1})
	if err != nil {
		panic(err)
	}
	p, ok := ctl.TryAdmit(0)
	fmt.Println(ok)
	_, ok = ctl.TryAdmit(0) // the only permit is taken
	fmt.Println(ok)
	p.Release(false)
	// Output:
	// true
	// false
}
