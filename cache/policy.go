package cache

import "math"

// This file holds the eviction policy: W-TinyLFU (Einziger, Friedman and
// Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", 2017) with
// the window sized by hill climbing, as Caffeine does, but with CLOCK
// segments instead of LRU lists, so that a hit moves nothing and Get needs
// no lock and no read buffer.
//
// New entries enter the window. When the window is over its share, its
// oldest entry moves to the probation segment of the main space and
// becomes a candidate; while the cache is over its bound, each candidate
// is compared with the victim, the oldest entry of probation, and the one
// the frequency sketch says was used less often is evicted. An entry hit
// while in probation is promoted to the protected segment when it reaches
// probation's tail; when protected is over its share (80% of the main
// space), its oldest entries are demoted back to probation. In the window
// and in protected, an entry hit since the policy last looked at it gets
// another lap instead of leaving (second chance). Hits are counted on the
// node by Get (node.touch) and moved into the sketch whenever the policy
// looks at the node. The sketch is made once the cache is half full, and
// the hits counted before then are dropped: nothing competed for space
// yet, and they would reach the sketch in one lump, long after they
// happened, whenever the policy first looked at their nodes.
//
// The window starts at 1% of the bound. Every sample of ten times the
// bound in lookups (one after another, whenever the cache gets round to
// calling climb), the climber compares the hit ratio with the previous
// sample's and keeps moving the window's size in the direction that helped
// (starting at 6.25% of the bound a step and decaying), or turns back:
// recency-heavy workloads grow the window, frequency-heavy ones and loops
// shrink it. Pushing against the window's floor moves nothing, and a hit
// ratio that rises meanwhile (as a cache warms) would keep it there for
// good; so after two such samples in a row the climber turns and tries a
// larger window.
//
// Everything here is guarded by Cache.mu.

const (
	// windowShare is the initial share of the bound given to the window.
	windowShare = 0.01
	// protectedShare is protected's share of the main space.
	protectedShare = 0.80
	// climbRestart is the change in hit ratio that restarts the climber's
	// step at stepShare.
	climbRestart = 0.05
	// stepShare is the climber's initial step, as a share of the bound.
	stepShare = 0.0625
	// stepDecay shrinks the step after each sample.
	stepDecay = 0.98
	// wallSamples is how many samples in a row the climber pushes against
	// the window's floor (or ceiling), moving nothing, before it turns.
	wallSamples = 2
	// floodFreq is the frequency above which a candidate that loses to
	// the victim is still admitted once in 128 times, so that an attacker
	// cannot keep a hot victim in place by colliding with it.
	floodFreq = 6
	// transferMax bounds the nodes moved between segments at one go.
	transferMax = 1000
)

// policy is the W-TinyLFU state.
type policy[K comparable, V any] struct {
	window, probation, protected ring[K, V]
	// max is the cache's bound; windowMax and protectedMax the weights
	// the window and protected may hold.
	max, windowMax, protectedMax uint64
	sketch                       sketch
	// weighted says the bound is a weight, not a count: the sketch is then
	// sized by the number of entries, as it grows.
	weighted bool
	// hash hashes a key for the sketch.
	hash func(K) uint64

	// The climber's state.
	step, prevRatio float64
	adjustment      int64
	// walled counts the samples in a row that ended with the climber
	// pushing against a limit it cannot move.
	walled int
	// baseHits and baseMisses are the lookup counts when the sample began
	// (estimated when a sample ends between two calls of climb).
	baseHits, baseMisses uint64

	// rng drives the random admission of floodFreq.
	rng uint64
}

// newPolicy returns the policy of a cache bounded by max.
func newPolicy[K comparable, V any](max uint64, weighted bool, hash func(K) uint64, seed uint64) policy[K, V] {
	window := max - uint64(float64(max)*(1-windowShare))
	p := policy[K, V]{
		max:          max,
		windowMax:    window,
		protectedMax: uint64(protectedShare * float64(max-window)),
		weighted:     weighted,
		hash:         hash,
		step:         -stepShare * float64(max),
		rng:          seed | 1,
	}
	return p
}

// ring returns the ring of segment seg.
func (p *policy[K, V]) ring(seg uint8) *ring[K, V] {
	switch seg {
	case segWindow:
		return &p.window
	case segProbation:
		return &p.probation
	}
	return &p.protected
}

// entries returns the number of nodes in the policy.
func (p *policy[K, V]) entries() int {
	return p.window.len() + p.probation.len() + p.protected.len()
}

// weight returns the total weight of the nodes in the policy.
func (p *policy[K, V]) weight() uint64 {
	return p.window.weight + p.probation.weight + p.protected.weight
}

// add takes in a new node: it enters the window, and its key's use is
// counted. While the policy is within the bound (the cache is filling),
// the window's overflow moves to probation at once, as it does when
// entries are evicted, so that the window keeps its share from the start
// and the first evictions find probation in the order entries arrived.
func (p *policy[K, V]) add(n *node[K, V]) {
	p.window.push(n, segWindow)
	if w := p.weight(); w >= p.max/2 {
		// Sized once the cache is half full, so that small caches in a
		// large bound do not pay for a large sketch.
		fresh := !p.sketch.ready()
		if p.weighted {
			p.sketch.ensure(p.entries())
		} else {
			p.sketch.ensure(int(min(p.max, math.MaxInt32)))
		}
		if fresh {
			p.forgetHits()
		}
	}
	p.sketch.add(p.hash(n.key), 1)
	if p.weight() <= p.max {
		p.evictFromWindow(n)
	}
}

// forgetHits clears every node's hit count: those of the hits that came
// before the sketch was made.
func (p *policy[K, V]) forgetHits() {
	for _, r := range []*ring[K, V]{&p.window, &p.probation, &p.protected} {
		for i := r.tail; r.holds(i); i++ {
			r.at(i).takeHits()
		}
	}
}

// replace puts n in old's place: same segment, same position. A write
// counts as a use, and old's hits pass to n.
func (p *policy[K, V]) replace(old, n *node[K, V]) {
	p.ring(old.seg()).replace(old, n)
	n.addHits(old.takeHits() + 1)
}

// remove takes n out of the policy, if it is in it.
func (p *policy[K, V]) remove(n *node[K, V]) {
	if n.seg() != segNone {
		p.ring(n.seg()).remove(n)
	}
}

// look moves n's hits into the sketch and returns them.
func (p *policy[K, V]) look(n *node[K, V]) uint32 {
	h := n.takeHits()
	if h > 0 {
		p.sketch.add(p.hash(n.key), h)
	}
	return h
}

// evict evicts nodes, by calling drop (which must remove them from the
// policy), until over returns false or only keep is left. keep, the node
// just written, is never evicted, so that a Set is there for the next Get.
func (p *policy[K, V]) evict(keep *node[K, V], over func() bool, drop func(*node[K, V])) {
	candStart := p.probation.head
	p.evictFromWindow(keep)
	if over() {
		p.evictFromMain(keep, candStart, over, drop)
	}
}

// evictFromWindow moves the window's oldest nodes to probation while the
// window is over its share; those hit since the last look go round again.
// keep stays: if it comes to the tail it goes round, and the nodes behind
// it leave without another lap, as they would from an LRU list.
func (p *policy[K, V]) evictFromWindow(keep *node[K, V]) {
	laps := p.window.len()
	for p.window.weight > p.windowMax {
		t := p.window.pop()
		if t == nil {
			return
		}
		if t == keep {
			p.window.push(t, segWindow)
			if p.window.len() == 1 {
				return
			}
			laps = 0
			continue
		}
		if p.look(t) > 0 && laps > 0 {
			laps--
			p.window.push(t, segWindow)
			continue
		}
		p.probation.push(t, segProbation)
	}
}

// candidate reports whether probation position pos is a candidate: a node
// that came from the window in this eviction, at or after candStart.
func (p *policy[K, V]) candidate(pos, candStart uint32) bool {
	return pos-candStart < p.probation.head-candStart
}

// victim returns the node to weigh candidates against: probation's oldest
// node, after promoting to protected the old ones that were hit; if
// probation is empty, protected's oldest, then the window's.
func (p *policy[K, V]) victim(keep *node[K, V], candStart uint32) *node[K, V] {
	promotions := p.probation.len()
	for t := p.probation.tailNode(); t != nil; t = p.probation.tailNode() {
		if p.candidate(t.pos, candStart) {
			return t
		}
		hit := p.look(t) > 0 || t == keep
		if !hit || promotions == 0 {
			return t
		}
		promotions--
		p.probation.pop()
		if uint64(t.weight()) > p.protectedMax {
			p.probation.push(t, segProbation) // a candidate now
			continue
		}
		p.protected.push(t, segProtected)
	}
	if t := p.protected.tailNode(); t != nil {
		p.look(t)
		return t
	}
	if t := p.window.tailNode(); t != nil {
		p.look(t)
		return t
	}
	return nil
}

// evictFromMain evicts while over returns true: each candidate (probation
// nodes from candStart on, then the window's nodes from the oldest) against
// the victim, the loser of each comparison evicted. keep is passed over.
func (p *policy[K, V]) evictFromMain(keep *node[K, V], candStart uint32, over func() bool, drop func(*node[K, V])) {
	ci := candStart
	var wi uint32
	fromWindow := false
	for over() {
		var cand *node[K, V]
		if !fromWindow {
			if int32(ci-p.probation.tail) < 0 {
				ci = p.probation.tail
			}
			if p.probation.holds(ci) && p.candidate(ci, candStart) {
				cand = p.probation.at(ci)
			} else {
				fromWindow, wi = true, p.window.tail
			}
		}
		if fromWindow {
			if int32(wi-p.window.tail) < 0 {
				wi = p.window.tail
			}
			if p.window.holds(wi) {
				cand = p.window.at(wi)
			}
		}
		vict := p.victim(keep, candStart)
		if cand == keep && cand != nil {
			if fromWindow {
				wi++
			} else {
				ci++
			}
			continue
		}
		if vict == keep {
			vict = nil
		}
		switch {
		case cand == nil && vict == nil:
			// Nothing left to weigh against keep but the cache is still
			// over: take the oldest node that is not keep, so that a
			// write is never pushed out by its own drain.
			o := p.other(keep)
			if o == nil {
				return
			}
			drop(o)
		case cand == nil:
			drop(vict)
		case vict == nil || vict == cand || uint64(cand.weight()) > p.max:
			drop(cand)
		case p.admit(cand, vict):
			drop(vict)
			if fromWindow {
				wi++
			} else {
				ci++
			}
		default:
			drop(cand)
		}
	}
}

// other returns the oldest node of probation, protected or the window, in
// that order, that is not keep; nil if keep is all there is.
func (p *policy[K, V]) other(keep *node[K, V]) *node[K, V] {
	for _, r := range []*ring[K, V]{&p.probation, &p.protected, &p.window} {
		for i := r.tail; r.holds(i); i++ {
			if n := r.at(i); n != keep {
				return n
			}
		}
	}
	return nil
}

// admit reports whether candidate should stay and victim go.
func (p *policy[K, V]) admit(cand, vict *node[K, V]) bool {
	hc, hv := p.hash(cand.key), p.hash(vict.key)
	p.sketch.add(hc, cand.takeHits())
	p.sketch.add(hv, vict.takeHits())
	fc, fv := p.sketch.estimate(hc), p.sketch.estimate(hv)
	if fc > fv {
		return true
	}
	if fc >= floodFreq {
		p.rng ^= p.rng << 13
		p.rng ^= p.rng >> 7
		p.rng ^= p.rng << 17
		return p.rng&127 == 0
	}
	return false
}

// climb lets the climber adjust the window, given the cache's lookup
// counts so far, and demotes from protected what no longer fits.
func (p *policy[K, V]) climb(hits, misses uint64) {
	p.adjust(hits, misses)
	p.demote()
	switch {
	case p.adjustment > 0:
		p.growWindow()
	case p.adjustment < 0:
		p.shrinkWindow()
	}
}

// adjust ends the climber's sample if it is complete and sets the
// adjustment to make.
func (p *policy[K, V]) adjust(hits, misses uint64) {
	if !p.sketch.ready() {
		p.prevRatio, p.baseHits, p.baseMisses = 0, hits, misses
		return
	}
	h, m := hits-p.baseHits, misses-p.baseMisses
	if h+m < uint64(p.sketch.sampleSize) {
		return
	}
	ratio := float64(h) / float64(h+m)
	change := ratio - p.prevRatio
	amount := p.step
	if change < 0 {
		amount = -p.step
	}
	// Pushing the window against its floor (or the main space against
	// its) changes nothing, so the change in hit ratio that keeps it
	// pushing is the workload's, not the climber's. After wallSamples such
	// samples in a row it turns round and tries the other way, which it
	// can measure.
	if amount < 0 && p.windowMax <= 1 || amount > 0 && p.protectedMax == 0 {
		if p.walled++; p.walled >= wallSamples {
			amount, p.walled = -amount, 0
		}
	} else {
		p.walled = 0
	}
	if math.Abs(change) >= climbRestart {
		p.step = math.Copysign(stepShare*float64(p.max), amount)
	} else {
		p.step = stepDecay * amount
	}
	p.prevRatio = ratio
	p.adjustment = int64(amount)
	// The cache calls climb only every so many drains, so the sample may
	// have run past its length: the lookups beyond it (split by this
	// sample's ratio) start the next one, so that samples keep their
	// length and their place in the workload however late climb comes.
	// Past a whole sample's length, the next one starts afresh.
	p.baseHits, p.baseMisses = hits, misses
	if over := h + m - uint64(p.sketch.sampleSize); over < uint64(p.sketch.sampleSize) {
		carried := uint64(float64(over) * ratio) // at most over, and h
		p.baseHits -= carried
		p.baseMisses -= over - carried // at most m, as over < h+m
	}
}

// demote moves protected's oldest nodes to probation while protected is
// over its share; those hit since the last look go round again.
func (p *policy[K, V]) demote() {
	laps := p.protected.len()
	for i := 0; p.protected.weight > p.protectedMax && i < transferMax; i++ {
		t := p.protected.pop()
		if t == nil {
			return
		}
		if p.look(t) > 0 && laps > 0 {
			laps--
			p.protected.push(t, segProtected)
			continue
		}
		p.probation.push(t, segProbation)
	}
}

// growWindow moves up to the adjustment's weight from the main space to the
// window: the limits first, then the oldest nodes of probation (or of
// protected).
func (p *policy[K, V]) growWindow() {
	if p.protectedMax == 0 {
		return
	}
	quota := min(uint64(p.adjustment), p.protectedMax)
	p.protectedMax -= quota
	p.windowMax += quota
	p.demote()
	for range transferMax {
		from := &p.probation
		t := from.tailNode()
		if t == nil || quota < uint64(t.weight()) {
			from = &p.protected
			t = from.tailNode()
		}
		if t == nil || quota < uint64(t.weight()) {
			break
		}
		quota -= uint64(t.weight())
		from.pop()
		p.window.push(t, segWindow)
	}
	p.protectedMax += quota
	p.windowMax -= quota
	p.adjustment = int64(quota)
}

// shrinkWindow moves up to the adjustment's weight from the window to the
// main space: the limits first, then the window's oldest nodes.
func (p *policy[K, V]) shrinkWindow() {
	if p.windowMax <= 1 {
		return
	}
	quota := min(uint64(-p.adjustment), p.windowMax-1)
	p.protectedMax += quota
	p.windowMax -= quota
	for range transferMax {
		t := p.window.tailNode()
		if t == nil || quota < uint64(t.weight()) {
			break
		}
		quota -= uint64(t.weight())
		p.window.pop()
		p.probation.push(t, segProbation)
	}
	p.protectedMax -= quota
	p.windowMax += quota
	p.adjustment = -int64(quota)
}
