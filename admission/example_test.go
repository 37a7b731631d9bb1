package admission_test

import (
	"context"
	"fmt"

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
