package shardmap

import (
	"reflect"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/shardmap/shardmap/internal/typeinfo"
)

// The inline layout: a slot holds its key and value themselves, as Go's
// classic runtime map does, for K that holds no pointers or is a string and
// V that holds none or is a single pointer. A Store then allocates nothing,
// a Load reads the bucket and nothing else (and a string key's bytes), and
// for pointer-free K and V the buckets hold no pointer at all (their
// overflow links are indices, overflow.go), so the GC never scans them,
// where it would mark one object per entry.
//
// A value that is one pointer (a pointer, map, channel or function: the
// inlinePtrSlots and inlineStrPtrSlots kinds) is a word of the slot that
// holds a pointer.
// Writers store it with atomic.StorePointer, so the GC's write barrier sees
// it, and readers load it with atomic.LoadPointer, so it is a pointer from
// the moment it is read; no pointer ever passes through an integer. Deleting
// a key clears its value word after the version bump, so that the map does
// not keep the value alive, and a reader that loads the cleared word sees
// the bump afterwards and tries again.
//
// A string key (the inlineStrSlots kind, and inlineStrPtrSlots with a
// one-pointer value) is two words: its data pointer, a pointer word of the
// slot, and its length. A reader must never use a key whose two words came
// from different keys: comparing it could read past the end of the shorter
// key's bytes. So a reader of a string-keyed
// chain copies a slot whose tophash byte matches and validates the copy
// against the chain's version before it compares the key (ibucket.find,
// Load), where other kinds compare first and validate once. An update keeps
// the key already stored, as sync.Map does (a Go map stores the new one):
// it rewrites only the value's words, one store for a value of a word or
// less; only a wide update moved to a free slot (moveUpdate) takes the new,
// equal key with it. Deleting a key clears its
// data pointer after the version bump, as for a pointer value, so that the
// map does not keep its bytes alive.
//
// A slot is a whole number of 8-byte words. Writers store them with atomic
// stores under the shard's mutex; readers load them with atomic loads, so the
// memory model and the race detector see no race. A reader may still see a
// slot in the middle of a change, so it reads as a sequence lock reads: it
// loads the chain's state word, copies the slot, loads the state word again,
// and keeps the copy only if the version did not move and the chain's dirty
// bit (a wide update in progress) was clear (invariant 3 in hmap.go).
//
// Which changes a reader can see half done, and how each is caught:
//
//   - insert into a free slot: the slot is not reachable until its tophash
//     byte is stored, after the words. A reader that matched the byte of the
//     key that used the slot before was reading when that key was deleted,
//     and the delete bumped the version.
//   - delete: one tophash store, then a version bump.
//   - update whose value lies within one word: one atomic store; the reader
//     gets the old value or the new one, both current during its call. The
//     version is bumped after it for iteration's sake.
//   - wider update: the new key and value go into a free slot that readers
//     reach no later than the old one, and the tophash word switches lanes
//     (moveUpdate). Readers see the old slot or the new one, each whole.
//   - wider update with no such free slot (the key's bucket and those before
//     it are full): the writer sets the chain's dirty bit, stores the words
//     in place, then bumps the version and clears the bit in one store. A
//     reader that sees the bit set, or a different word afterwards, tries
//     again.
//
// A reader never takes the lock. A failed try means a write to the same
// chain completed meanwhile, or, only in the last case above, that an
// in-place update is in flight; after spinTries failures in a row the reader
// yields its processor between tries, so that a writer descheduled in the
// middle of such an update can finish it. That last case is the only one in
// which a Load waits for a writer, and only for a few stores.

// maxInlineSlot is the largest slot (key plus value, in bytes) kept inline.
// Larger pointer-free pairs use entries: eight of them per bucket would make
// a bucket span many cache lines for every lookup.
const maxInlineSlot = 128

// spinTries is how many times in a row an inline reader retries before it
// starts yielding between tries.
const spinTries = 8

// islot is one inline slot. The zero-length word array gives it 8-byte
// alignment and a size that is a multiple of 8, so it is a whole number of
// words that atomic loads and stores can cover.
type islot[K comparable, V any] struct {
	_     [0]uint64
	key   K
	value V
}

// ibucket is eight inline slots and the link to the next bucket of the
// chain. All fields are read without a lock and written only by the holder
// of the shard's mutex.
type ibucket[K comparable, V any] struct {
	// tophash holds one byte per slot: emptyTop, or the key's tophash. Set
	// after the slot is stored, cleared before the slot is reused.
	tophash topWord
	// state is the chain's state word (evacuated bit, dirty bit, version)
	// at a chain's head, and in every bucket the link to the next one (0
	// for none; overflow.go), set once, when the chain first needs that
	// bucket, after its first slot is filled. It sits next to tophash so
	// that a reader's two loads of it hit the line it already fetched.
	state bucketState
	// slots hold the keys and values, valid where tophash says so.
	slots [bucketCnt]islot[K, V]
}

// slotsFor returns the slot kind New gives K and V: inline when K holds no
// pointer or is a string, V holds none or is one pointer, and a slot fits
// maxInlineSlot; entries otherwise, and always on 32-bit platforms, whose
// state words have no room for inline links (dirtybit.go) and which align
// 8-byte words to 4.
func slotsFor[K comparable, V any]() slotKind {
	if linkBits == 0 || unsafe.Sizeof(islot[K, V]{}) > maxInlineSlot {
		return entrySlots
	}
	k, v := reflect.TypeFor[K](), reflect.TypeFor[V]()
	switch {
	case k.Kind() == reflect.String && typeinfo.PointerFree(v):
		return inlineStrSlots
	case k.Kind() == reflect.String && typeinfo.OnePointer(v):
		return inlineStrPtrSlots
	case !typeinfo.PointerFree(k):
		return entrySlots
	case typeinfo.PointerFree(v):
		return inlineSlots
	case typeinfo.OnePointer(v):
		return inlinePtrSlots
	}
	return entrySlots
}

// The islot methods below take the table's slot kind, which says which
// words of a slot, if any, hold pointers (ptrWord): those words are loaded
// and stored as pointers, every other word as an integer.

// ptrWord reports whether the word at byte offset off of a slot of kind k
// holds a pointer: the value's word if the value is one pointer (valuePtr),
// the key's first if the key is a string (keyPtr, its data pointer).
func (p *islot[K, V]) ptrWord(k slotKind, off uintptr) bool {
	return off == 0 && keyPtr[K](k) || off == unsafe.Offsetof(p.value) && valuePtr(k)
}

// keyPtr reports whether a K key in a slot of kind k is a string whose data
// pointer is a pointer word of the slot. The size test is a constant for
// each K, so that for other key sizes the whole test compiles away.
func keyPtr[K comparable](k slotKind) bool {
	var key K
	return unsafe.Sizeof(key) == unsafe.Sizeof("") && k&strKeyBit != 0
}

// valuePtr reports whether a slot of kind k holds a value that is one
// pointer, its one word.
func valuePtr(k slotKind) bool { return k&ptrValueBit != 0 }

// load copies the slot with one atomic load per word. For a slot that a
// writer may be changing, the copy is only worth keeping once the chain's
// version says it did not (loadInline); until then a string key in it may
// pair one key's data with another's length, and must not be compared.
func (p *islot[K, V]) load(k slotKind) (s islot[K, V]) {
	src, dst := unsafe.Pointer(p), unsafe.Pointer(&s)
	for off := uintptr(0); off < unsafe.Sizeof(s); off += 8 {
		// Safety: an islot is 8-aligned and a multiple of 8 bytes long, so
		// every word at off < Sizeof lies inside both slots, and ptrWord
		// names the words that K and V give pointers.
		if p.ptrWord(k, off) {
			*(*unsafe.Pointer)(unsafe.Add(dst, off)) = atomic.LoadPointer((*unsafe.Pointer)(unsafe.Add(src, off)))
		} else {
			*(*uint64)(unsafe.Add(dst, off)) = atomic.LoadUint64((*uint64)(unsafe.Add(src, off)))
		}
	}
	return s
}

// loadKey reads the slot's key with one atomic load per word it spans; a
// word it shares with a pointer-free value is loaded whole and the value's
// bytes dropped. A string key (keyPtr) is safe to compare only where the
// slot cannot be changing: under the mutex, or in a frozen old chain.
// Lock-free readers of such keys copy the slot and validate it first.
func (p *islot[K, V]) loadKey(k slotKind) K {
	if unsafe.Sizeof(p.key) == 8 {
		// Safety: the key starts the 8-aligned slot and is one word long.
		w := atomic.LoadUint64((*uint64)(unsafe.Pointer(&p.key)))
		return *(*K)(unsafe.Pointer(&w))
	}
	return p.loadWideKey(k)
}

// loadWideKey is loadKey for a key of more than one word. It is kept out of
// loadKey, which would otherwise go over the inlining budget and put a call
// into every hot scan of one-word keys (a Load of a cached uint64 key: 18
// instructions more, callgrind).
//
//go:noinline
func (p *islot[K, V]) loadWideKey(k slotKind) K {
	if keyPtr[K](k) {
		return p.loadStrKey()
	}
	var buf [maxInlineSlot / 8]uint64
	for off := uintptr(0); off < unsafe.Sizeof(p.key); off += 8 {
		// Safety: off < Sizeof(key) <= Sizeof(islot) <= maxInlineSlot, and
		// the word at off lies inside the 8-aligned, word-sized slot.
		buf[off/8] = atomic.LoadUint64((*uint64)(unsafe.Add(unsafe.Pointer(p), off)))
	}
	return *(*K)(unsafe.Pointer(&buf))
}

// loadStrKey is loadKey for a string key (keyPtr): its data pointer, then
// its length, the first two words of the slot. Load makes the same two
// loads itself, into a strWords.
func (p *islot[K, V]) loadStrKey() (key K) {
	// Safety: K is a string, whose header is those two words.
	*(*unsafe.Pointer)(unsafe.Pointer(&key)) = atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(p)))
	*(*uint64)(unsafe.Add(unsafe.Pointer(&key), 8)) = atomic.LoadUint64((*uint64)(unsafe.Add(unsafe.Pointer(p), 8)))
	return key
}

// strWords is a string's header, its data pointer and length. Load reads a
// string key's two words into one and compares it as a string, where
// loadStrKey, which builds the key through memory, would cost a cached
// string Load 3 instructions more (callgrind).
type strWords struct {
	data unsafe.Pointer
	len  uint64
}

// loadValue reads the slot's value with atomic loads: one for a value that
// is one aligned word (always the case with inlinePtrSlots), the whole slot
// otherwise.
func (p *islot[K, V]) loadValue(k slotKind) V {
	switch {
	case valuePtr(k):
		return p.loadPtrValue()
	case p.wordValue():
		return p.loadWordValue()
	}
	return p.load(k).value
}

// wordValue reports whether the value is one aligned word; a constant for
// each K and V, so tests of it compile away.
func (p *islot[K, V]) wordValue() bool {
	return unsafe.Sizeof(p.value) == 8 && unsafe.Offsetof(p.value)%8 == 0
}

// loadWordValue is loadValue for a pointer-free value that is one aligned
// word. It and loadPtrValue are small enough to be inlined, where loadValue
// is not; Load writes its two lines out, as an inlined call would leave a
// NOP (its inline mark) on Load's path.
func (p *islot[K, V]) loadWordValue() V {
	// Safety: callers check wordValue: the value is one aligned word.
	w := atomic.LoadUint64((*uint64)(unsafe.Pointer(&p.value)))
	return *(*V)(unsafe.Pointer(&w))
}

// loadPtrValue is loadValue for a value that is one pointer.
func (p *islot[K, V]) loadPtrValue() V {
	// Safety: only tables whose V is one pointer word at an aligned offset
	// (valuePtr) call this.
	w := atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&p.value)))
	return *(*V)(unsafe.Pointer(&w))
}

// storeValue stores a value that is one aligned word with one atomic store.
// Caller holds the mutex.
func (p *islot[K, V]) storeValue(value V, k slotKind) {
	// Safety: callers check that the value is one aligned word
	// (valuePtr implies it).
	if valuePtr(k) {
		atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(&p.value)), *(*unsafe.Pointer)(unsafe.Pointer(&value)))
		return
	}
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&p.value)), *(*uint64)(unsafe.Pointer(&value)))
}

// storeWords stores the words of s from byte offset from up to (not
// including) to into the slot, one atomic store each. Caller holds the mutex.
func (p *islot[K, V]) storeWords(s *islot[K, V], from, to uintptr, k slotKind) {
	src, dst := unsafe.Pointer(s), unsafe.Pointer(p)
	for off := from; off < to; off += 8 {
		// Safety: from and to are multiples of 8 within Sizeof(islot), and
		// ptrWord names the words that K and V give pointers.
		if p.ptrWord(k, off) {
			atomic.StorePointer((*unsafe.Pointer)(unsafe.Add(dst, off)), *(*unsafe.Pointer)(unsafe.Add(src, off)))
		} else {
			atomic.StoreUint64((*uint64)(unsafe.Add(dst, off)), *(*uint64)(unsafe.Add(src, off)))
		}
	}
}

// forget clears a retired slot's pointer word, if it has one, so that the
// map does not keep the value, or the string key's bytes, alive. Caller
// holds the mutex and has already bumped the chain's version, so a reader
// that loads the nil sees the bump when it validates. (A string key left
// with its length and a nil pointer is never compared: a reader drops the
// copy on the bump before it compares, and a writer never reaches an empty
// slot's key.)
func (p *islot[K, V]) forget(k slotKind) {
	if keyPtr[K](k) {
		// Safety: the key is a string, whose data pointer starts the slot.
		atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(p)), nil)
	}
	if valuePtr(k) {
		// Safety: the value is one pointer word.
		atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(&p.value)), nil)
	}
}

// valueWords returns the byte range of the words an islot's value occupies.
func valueWords[K comparable, V any]() (from, to uintptr) {
	var s islot[K, V]
	off, size := unsafe.Offsetof(s.value), unsafe.Sizeof(s.value)
	if size == 0 {
		return 0, 0
	}
	return off &^ 7, (off + size + 7) &^ 7
}

// find scans the chain at head, in the table whose overflows are o, for
// key. It takes no lock; the caller validates the result with v, the head's
// state word loaded before (loadInline). A string key (keyPtr) is compared
// only once a copy of its slot has validated, since a copy made while a
// writer reuses the slot may pair one key's data with another's length:
// find then reports a miss if the chain moved, which the caller's own check
// sees too.
func (head *ibucket[K, V]) find(o *overflows, top uint8, key K, k slotKind, v uintptr) (value V, ok bool) {
	if keyPtr[K](k) {
		for b := head; b != nil; b = b.next(o) {
			for m := matchTop(b.tophash.load(), top); m != 0; m &= m - 1 {
				// Safety: firstLane returns 0..7 for a nonzero match word.
				s := b.slots[firstLane(m)&(bucketCnt-1)].load(k)
				if !sameVersion(v, head.state.load()) {
					return value, false
				}
				if s.key == key {
					return s.value, true
				}
			}
		}
		return value, false
	}
	if b, i := head.slot(o, top, key, k); b != nil {
		// Safety: slot returns a lane, 0..7.
		return b.slots[i&(bucketCnt-1)].loadValue(k), true
	}
	return value, false
}

// touch loads a word of the bucket's second cache line, so that its miss
// overlaps the miss on the first (the tophash word) instead of following it:
// which slot a Load reads depends on the tophash word, so without this a Load
// of a slot on the second line waits for two misses in a row. Lanes fill from
// the first, so the slots a Load reads are mostly on those two lines; the
// later ones (for a 16-byte slot behind the 16-byte header, lane 7 of a
// bucket that starts a line, up to lanes 4 to 7 of one that starts 48 bytes
// into it) hold fewer keys and are left to miss when they are read.
//
// Touching every line instead costs each Load the bandwidth of lines it
// seldom needs. Measured with 1M and 16M uint64 keys, Load only, ns/op
// against xsync v4 in the same process, 2-core VM: with 2 goroutines (12
// interleaved samples) 0.96x and 1.03x touching every line, 0.91x and 0.95x
// touching the second; with one (6 samples) 1.00x and 1.16x against 0.88x
// and 1.12x.
func (b *ibucket[K, V]) touch() {
	if unsafe.Sizeof(*b) > 64 {
		// Safety: 64 is within the bucket, which is larger, and a
		// multiple of 8 in an 8-aligned bucket made of words.
		atomic.LoadUint64((*uint64)(unsafe.Add(unsafe.Pointer(b), 64)))
	}
}

// loadInline is Load's read of an inline chain: find inside the sequence
// lock, retried until a copy validates.
func loadInline[K comparable, V any](head *ibucket[K, V], o *overflows, top uint8, key K, k slotKind) (value V, ok bool) {
	for try := 0; ; try++ {
		if v := head.state.load(); v&chainDirtyBit == 0 {
			value, ok = head.find(o, top, key, k, v)
			if sameVersion(v, head.state.load()) {
				return value, ok
			}
		}
		if try >= spinTries {
			runtime.Gosched()
		}
	}
}

// slot returns the bucket and lane of the slot that holds key in the chain
// starting at b, in the table whose overflows are o, or a nil bucket.
// Without the mutex what it finds may be changing underneath it: a reader
// validates what it read with the chain's version (find, loadInline), and
// for string keys does not call it (see find).
func (b *ibucket[K, V]) slot(o *overflows, top uint8, key K, k slotKind) (*ibucket[K, V], int) {
	for {
		for m := matchTop(b.tophash.load(), top); m != 0; m &= m - 1 {
			// Safety: firstLane returns 0..7 for a nonzero match word.
			if i := firstLane(m) & (bucketCnt - 1); b.slots[i].loadKey(k) == key {
				return b, i
			}
		}
		w := b.state.load()
		if w&linkMask == 0 {
			return nil, 0
		}
		b = b.follow(o, w)
	}
}

// freeAfter returns the first empty slot of the chain at head after the
// head bucket itself, lane i of bucket b, or a nil b if every slot is
// taken. Caller holds the mutex. Its one caller, Store's fast path, tests
// the head bucket itself: a loop over the whole chain is over the inlining
// budget, and a call costs an insert a tenth of its instructions.
func (head *ibucket[K, V]) freeAfter(o *overflows) (b *ibucket[K, V], i int) {
	for b = head.next(o); b != nil; b = b.next(o) {
		if m := matchEmpty(b.tophash.load()); m != 0 {
			return b, firstLane(m)
		}
	}
	return nil, 0
}

// iposition is where a locked lookup found a key in an inline chain, or
// where it may be inserted.
type iposition[K comparable, V any] struct {
	// b and i locate the slot holding the key; b is nil if the key is absent.
	b *ibucket[K, V]
	i int
	// free and fi locate the first empty slot in the chain; free is nil if
	// every slot is taken.
	free *ibucket[K, V]
	fi   int
	// last is the chain's last bucket, where an overflow bucket would go.
	last *ibucket[K, V]
}

// locate scans the chain at head for key, fills pos with its position and
// returns its value. The caller holds the mutex, so the chain cannot change
// underneath it. pos is filled in place: a slotRef's is large enough that
// returning it would cost a copy per write.
func (head *ibucket[K, V]) locate(o *overflows, top uint8, key K, k slotKind, pos *iposition[K, V]) (value V, found bool) {
	*pos = iposition[K, V]{}
	for b := head; b != nil; b = b.next(o) {
		word := b.tophash.load()
		for m := matchTop(word, top); m != 0; m &= m - 1 {
			i := firstLane(m)
			if p := &b.slots[i]; p.loadKey(k) == key {
				pos.b, pos.i = b, i
				return p.loadValue(k), true
			}
		}
		if pos.free == nil {
			if m := matchEmpty(word); m != 0 {
				pos.free, pos.fi = b, firstLane(m)
			}
		}
		pos.last = b
	}
	return value, false
}

// put stores key and value in the empty slot pos found, or in a new overflow
// bucket from o, and reports whether it added one. The caller holds the
// mutex and bumps the chain's version afterwards.
func (pos *iposition[K, V]) put(o *overflows, top uint8, key K, value V, k slotKind) (overflowed bool) {
	if pos.free != nil {
		pos.free.fill(pos.fi, top, key, value, k)
		return false
	}
	b, l := addOverflow[K, V](o)
	b.fill(0, top, key, value, k)
	pos.last.state.setLink(l)
	return true
}

// fill stores key and value in empty slot i of b, then its tophash byte.
// The caller holds the mutex and bumps the chain's version afterwards.
func (b *ibucket[K, V]) fill(i int, top uint8, key K, value V, k slotKind) {
	s := islot[K, V]{key: key, value: value}
	b.slots[i].storeWords(&s, 0, unsafe.Sizeof(s), k)
	b.tophash.store(withTop(b.tophash.load(), i, top))
}

// update stores value, and key too if rekey, over the key pos found in the
// chain at head, and bumps the chain's version. Caller holds the mutex.
//
// key equals the stored key but, for float keys, may differ in its bytes
// (+0 and -0); as in a Go map, the slot then takes the new key, so New sets
// rekey for key types that hold floats.
func (pos *iposition[K, V]) update(head *ibucket[K, V], key K, value V, rekey bool, k slotKind) {
	p := &pos.b.slots[pos.i]
	if !rekey && p.wordValue() {
		// The value is one aligned word: store just that.
		hit[K, V]{ip: p, state: &head.state}.replace(key, value, k)
		return
	}
	s := p.load(k)
	s.key, s.value = key, value
	from, to := valueWords[K, V]()
	if rekey {
		from, to = 0, unsafe.Sizeof(s)
	}
	if to-from <= 8 {
		p.storeWords(&s, from, to, k) // one atomic store: readers see old or new
		head.state.bump()
		return
	}
	if pos.moveUpdate(head, &s, k) {
		return
	}
	w := head.state.load()
	head.state.store(w | chainDirtyBit)
	p.storeWords(&s, from, to, k)
	head.state.store(w + versionOne)
}

// moveUpdate does a wide update without rewriting a slot readers may be
// reading: it writes the new key and value into a free slot that every
// reader reaches no later than the old one, then retires the old slot. It
// reports false, having done nothing, when there is no such slot: the key's
// bucket and every bucket before it in the chain are full. Caller holds the
// mutex.
//
// In the key's own bucket, one tophash store brings the new lane in and
// takes the old one out, so readers see the old slot or the new one. In an
// earlier bucket, the new lane is published first: from then on a reader
// scanning from the head finds it before the old one. Until the old lane is
// cleared the chain holds the key twice, which only iteration would notice,
// so the chain's dup bit says so meanwhile (dirtybit.go).
func (pos *iposition[K, V]) moveUpdate(head *ibucket[K, V], s *islot[K, V], k slotKind) bool {
	b := pos.b
	word := b.tophash.load()
	top := topAt(word, pos.i)
	if m := matchEmpty(word); m != 0 {
		j := firstLane(m)
		b.slots[j].storeWords(s, 0, unsafe.Sizeof(*s), k)
		b.tophash.store(withTop(withTop(word, j, top), pos.i, emptyTop))
		head.state.bump()
		b.slots[pos.i].forget(k)
		return true
	}
	if pos.free == nil {
		return false
	}
	// locate stops at the key's bucket, so a free slot it found is in an
	// earlier one.
	w := head.state.load()
	head.state.store(w | chainDupBit)
	pos.free.slots[pos.fi].storeWords(s, 0, unsafe.Sizeof(*s), k)
	pos.free.tophash.store(withTop(pos.free.tophash.load(), pos.fi, top))
	b.tophash.store(withTop(word, pos.i, emptyTop))
	head.state.store(w + versionOne)
	b.slots[pos.i].forget(k)
	return true
}

// holdsFloats reports whether t's == can hold for values with different
// bytes, which for pointer-free types means it holds a float.
func holdsFloats(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() > 0 && holdsFloats(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsFloats(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// clear empties the slot pos found: it clears the tophash byte, bumps the
// chain's version, which is what tells a reader still copying the slot to
// try again, and then forgets a pointer value. The other words stay until an
// insert reuses the slot. Caller holds the mutex.
func (pos *iposition[K, V]) clear(head *ibucket[K, V], k slotKind) {
	b := pos.b
	b.tophash.store(withTop(b.tophash.load(), pos.i, emptyTop))
	head.state.bump()
	b.slots[pos.i].forget(k)
}

// forEachSlot calls f for every occupied slot of the chain at head, in the
// table whose overflows are o, in chain order, with the slot itself: f reads
// it with load (atomically), or, on a frozen old chain or under the mutex,
// as it likes. Passing the slot rather than a copy keeps a copy from
// escaping to the heap once per slot.
func (head *ibucket[K, V]) forEachSlot(o *overflows, f func(top uint8, p *islot[K, V])) {
	for b := head; b != nil; b = b.next(o) {
		word := b.tophash.load()
		for m := matchFull(word); m != 0; m &= m - 1 {
			i := firstLane(m)
			f(topAt(word, i), &b.slots[i])
		}
	}
}

// icursor appends slots to a new inline chain that starts empty, as cursor
// does for entries.
type icursor[K comparable, V any] struct {
	o    *overflows     // the new table's overflow buckets
	head *ibucket[K, V] // the chain's head bucket
	b    *ibucket[K, V] // bucket being filled; nil before the first put
	i    int            // next free slot in b
	word uint64         // b's tophash word, stored when b is full or at finish
	k    slotKind       // the table's slot kind
}

// put appends s and returns 1 if it allocated an overflow bucket, else 0.
func (c *icursor[K, V]) put(top uint8, s *islot[K, V]) int {
	grew := 0
	switch {
	case c.b == nil:
		if debugInvariants && matchFull(c.head.tophash.load()) != 0 {
			panic("shardmap: evacuating into a chain that is not empty")
		}
		c.b = c.head
	case c.i == bucketCnt:
		// The new bucket is linked before it is filled: this chain is not
		// reachable by readers until its old chain is marked evacuated.
		c.b.tophash.store(c.word)
		next, l := addOverflow[K, V](c.o)
		c.b.state.setLink(l)
		c.b, c.i, c.word = next, 0, 0
		grew = 1
	}
	c.b.slots[c.i].storeWords(s, 0, unsafe.Sizeof(*s), c.k)
	c.word = withTop(c.word, c.i, top)
	c.i++
	return grew
}

// finish stores the last tophash word and bumps the chain's version.
func (c *icursor[K, V]) finish() {
	if c.b != nil {
		c.b.tophash.store(c.word)
		c.head.state.bump()
	}
}
