package admission

import (
	"testing"
	"time"
)

// TestHotKeys: a key is hot once at least hotMinContended of its attempts
// contended, and hotShare of them; a transaction is hot when all its keys
// are; scores halve every hotHalfLife.
func TestHotKeys(t *testing.T) {
	clk := newClock()
	c := mustNew(t, Settings{AdmitHotOnly: true}, clk)
	if !c.AdmitsHotOnly() {
		t.Fatal("AdmitsHotOnly false")
	}
	const hotRow, coldRow, amount = 11, 12, 13
	if c.Hot([]uint64{hotRow}) || c.Hot(nil) {
		t.Fatal("hot before anything was observed")
	}
	c.Observe([]uint64{hotRow, amount}, true)
	if c.Hot([]uint64{hotRow}) {
		t.Fatal("hot after one contended attempt")
	}
	c.Observe([]uint64{hotRow, amount}, true)
	if !c.Hot([]uint64{hotRow}) || !c.Hot([]uint64{hotRow, amount}) {
		t.Fatal("not hot after two contended attempts")
	}
	// The amount is shared by many cold transactions: diluted below
	// hotShare, it stays cold, and so does a transaction naming it.
	for range 30 {
		c.Observe([]uint64{coldRow, amount}, false)
	}
	if c.Hot([]uint64{amount}) || c.Hot([]uint64{hotRow, amount}) || c.Hot([]uint64{coldRow}) {
		t.Fatal("a diluted or cold key counted as hot")
	}
	if !c.Hot([]uint64{hotRow}) {
		t.Fatal("the hot row cooled down at once")
	}
	// A key never seen (a fresh id beside the hot row) is not hot: the
	// transaction may not contend.
	if c.Hot([]uint64{hotRow, 999}) {
		t.Fatal("an unknown key counted as hot")
	}
	// Two half-lives later the two contended attempts weigh half an
	// attempt: cold again.
	clk.advance(2 * hotHalfLife)
	if c.Hot([]uint64{hotRow}) {
		t.Fatal("still hot two half-lives later")
	}
	// Long silence clears everything.
	c.Observe([]uint64{hotRow}, true)
	c.Observe([]uint64{hotRow}, true)
	clk.advance(time.Minute)
	if c.Hot([]uint64{hotRow}) {
		t.Fatal("hot a minute later")
	}
	c.Observe(nil, true) // nothing to count
}
