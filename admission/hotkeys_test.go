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
	if c.Hot(0, []uint64{hotRow}) || c.Hot(0, nil) {
		t.Fatal("hot before anything was observed")
	}
	c.Observe([]uint64{hotRow, amount}, true)
	if c.Hot(0, []uint64{hotRow}) {
		t.Fatal("hot after one contended attempt")
	}
	c.Observe([]uint64{hotRow, amount}, true)
	if !c.Hot(0, []uint64{hotRow}) || !c.Hot(0, []uint64{hotRow, amount}) {
		t.Fatal("not hot after two contended attempts")
	}
	// The amount is shared by many cold transactions: diluted below
	// hotShare, it stays cold, and so does a transaction naming it.
	for range 30 {
		c.Observe([]uint64{coldRow, amount}, false)
	}
	if c.Hot(0, []uint64{amount}) || c.Hot(0, []uint64{hotRow, amount}) || c.Hot(0, []uint64{coldRow}) {
		t.Fatal("a diluted or cold key counted as hot")
	}
	if !c.Hot(0, []uint64{hotRow}) {
		t.Fatal("the hot row cooled down at once")
	}
	// A key never seen (a fresh id beside the hot row) is not hot: the
	// transaction may not contend.
	if c.Hot(0, []uint64{hotRow, 999}) {
		t.Fatal("an unknown key counted as hot")
	}
	// Two half-lives later the two contended attempts weigh half an
	// attempt: cold again.
	clk.advance(2 * hotHalfLife)
	if c.Hot(0, []uint64{hotRow}) {
		t.Fatal("still hot two half-lives later")
	}
	// Long silence clears everything.
	c.Observe([]uint64{hotRow}, true)
	c.Observe([]uint64{hotRow}, true)
	clk.advance(time.Minute)
	if c.Hot(0, []uint64{hotRow}) {
		t.Fatal("hot a minute later")
	}
	c.Observe(nil, true) // nothing to count
}

// TestLikelyHot: a site most of whose recent first attempts (at least
// four) were hot is likely hot; cold ones dilute it; it is forgotten in
// time.
func TestLikelyHot(t *testing.T) {
	clk := newClock()
	c := mustNew(t, Settings{AdmitHotOnly: true}, clk)
	const site, other = 0x1000, 0x2000
	c.Observe([]uint64{1}, true)
	c.Observe([]uint64{1}, true)
	for range 3 {
		c.Hot(site, []uint64{1})
	}
	if c.LikelyHot(site) {
		t.Fatal("likely hot after three first attempts")
	}
	c.Hot(site, []uint64{1})
	if !c.LikelyHot(site) || c.LikelyHot(other) || c.LikelyHot(0) {
		t.Fatal("four hot first attempts: not likely hot, or another site is")
	}
	for range 5 {
		c.Hot(site, []uint64{2}) // cold keys
	}
	if c.LikelyHot(site) {
		t.Fatal("likely hot with most first attempts cold")
	}
	if s := c.Snapshot(); s.Cold != 5 {
		t.Fatalf("Cold = %d, want 5", s.Cold)
	}
	for range 8 {
		c.Hot(site, []uint64{1})
	}
	clk.advance(time.Minute)
	if c.LikelyHot(site) {
		t.Fatal("still likely hot a minute later")
	}
}
