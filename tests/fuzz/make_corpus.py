#!/usr/bin/env python3
"""Writes the seed corpus of the segment fuzzer into tests/fuzz/corpus/.

    tests/fuzz/make_corpus.py [OUT_DIR]

Each seed is a list of patches onto the fuzzer's template segment plus the
operations to run, in the input format described at the top of
tests/fuzz/segment_fuzzer.cc (keep the two in sync). Patches name what they
change symbolically (the k-th live slot, the block of live entry e, free
block f, the intent's op word, ...), so the seeds do not depend on where the
keys' hashes put them. Deterministic: running it twice writes the same files.
"""

import os
import struct
import sys

# --- patch targets: (kind, 16-bit target) ---------------------------------

ANY, LIVE, TOMB, EMPTY = 0, 1, 2, 3  # slot selectors
SEQ, HASH, BLOCK, RESERVED = 0, 1, 2, 3  # slot fields


def HDR(word):  # header word: 0 magic, 1 version|header_size, 2 fingerprint,
    return (1, word)  # 3 segment_size, 4 max_items, 5 slot_count, 6 slots_offset,
    # 7 heap_offset, 8 heap_size, 9 journal_offset, 16 table_seq, 24 size,
    # 25 tombstones, 26 writes, 27 purges, 28 repairs, 32 lock_word|waiters,
    # 33 lock_owner_pid, 40-47 intent, 48 change_seq, 50 log_head,
    # 51 log_tail; growth: 13 max_segment_size, 17 table, 34 grow_epoch,
    # 56 capacity, 57 heap_size_now, 58 table_block, 59 grows_total,
    # 60 migrate_table, 61 migrate_block, 62 migrate_zeroed,
    # 63 migrate_copied, 64 migrate_tombstones


def LOG(word):  # word of the change log region: marks, then the ring
    return (7, 0x4000 | word)


def SLOT(which, k, field):
    return (2, (which << 14) | ((k & 0xFFF) << 2) | field)


def ENTRY_WORD(e, w):  # w: 0 tag, 1 value_len, 2 key_len, 0xff last word
    return (3, (e << 8) | w)


def FREE_WORD(f, w):  # w: 0 tag, 1 next, 2 prev, 0xff footer
    return (4, (f << 8) | w)


def CTL(word):  # allocator control: 0 free_bytes, 1 free_blocks, 2 used_bytes,
    return (5, word)  # 3 used_blocks, 4 fl_bitmap, 5-44 sl_bitmap, 45+ heads


def CLASS_HEAD(f):  # the list head of free block f's size class
    return (5, 0x8000 | f)


def INTENT(word):  # 0 op, 1 phase, 2 slot, 3 old_block, 4 new_block, 5 hash,
    return (6, word)  # 6 value_len, 7 reserved


def HEAP(word):
    return (7, word)


def JOURNAL(word):
    return (7, 0x8000 | word)


# --- values: (value kind, encoded bytes) ------------------------------------


def LIT(v):
    return (0, struct.pack("<Q", v & (2**64 - 1)))


def SMALL(v):
    return (1, struct.pack("<b", v))


def ADD(d):
    return (2, struct.pack("<b", d))


def FLIP(bit):
    return (3, bytes([bit]))


def ENTRY(e, words8=0):  # block of live entry e, + 8 * words8 bytes
    return (4, bytes([(e & 31) | (words8 << 5)]))


def FREE(f, words8=0):
    return (5, bytes([(f & 31) | (words8 << 5)]))


def CONST(name):
    return (6, bytes([CONSTANTS.index(name)]))


def SLOT_INDEX(which, k):  # the index of a slot, for intent records
    return (6, bytes([0x80 | (which << 5) | k]))


def COPY(target):  # copies the word at `target` (same kind as the patch)
    return (7, struct.pack("<H", target[1]))


# The order of Constant()'s table in segment_fuzzer.cc.
CONSTANTS = [
    "0", "1", "2", "3", "heap_offset", "heap_end", "heap_end-8",
    "heap_end-16", "heap_end-32", "slots_offset", "journal_offset",
    "segment_size", "~0", "1<<63", "slot_count", "slot_count-1", "max_items",
    "heap_size", "magic", "fingerprint", "version", "sizeof(Header)",
    "heap_offset-16", "heap_offset+8", "INT64_MAX", "INT64_MIN", "min_block",
    "journal_bytes", "journal_bytes+1", "max_key", "max_key+1",
    "heap_size+16", "heap_mid", "1<<32", "0xffffffff", "small_block",
]

WORD, LOW32, HIGH32, BYTE = 0, 1, 2, 3  # widths


def patch(target, value, width=WORD):
    kind, t = target
    vk, payload = value
    return bytes([kind | (vk << 3) | (width << 6)]) + struct.pack("<H", t) + payload


def raw(offset, data):  # kind 0: bytes at an absolute offset
    assert 1 <= len(data) <= 32
    return bytes([0 | ((len(data) - 1) << 3)]) + struct.pack("<H", offset) + data


# --- operations -------------------------------------------------------------

GET, CONTAINS, READ, GET_LOCKED, FOR_EACH, CHECK, STATS, ALLOC_STATS, \
    INSPECT, PUT, PUT_LARGE, ERASE, ADD_OP, WRITE, CAS, FILL = range(16)
# Key(a): 0 "a", 1 "counter", 2 "gone-1" (erased), 3 "b-odd-key",
# 4 "key-100", 5 "key-250", 6 "gone-2" (erased), 7 "key-600", 8 the long key,
# 9 "key-1200", 10 "big", 11-14 new keys, 15 a key over kMaxKeySize.
# CAS: a < 4 Key(a), 4-7 Key(a + 7), expecting per a & 3 nullopt, the
# current value, another value, ""; a >= 8: Update(Key(a)), refused if odd.


def op(code, a=0, param=None):
    b = bytes([code | (a << 4)])
    return b if param is None else b + bytes([param])


LOOKUPS = b"".join(op(c, a) for a in (0, 1, 4, 6, 10, 12) for c in (GET, CONTAINS, READ))
READS = LOOKUPS + op(FOR_EACH) + op(STATS) + op(INSPECT)
WRITES = (op(PUT, 11) + op(PUT_LARGE, 9, 4) + op(ERASE, 3) + op(ADD_OP, 1, 0)
          + op(WRITE, 2) + op(CAS, 1))
CHECKED = op(CHECK) + op(ALLOC_STATS)


def seed(patches=b"", ops=b""):
    assert len(ops) < 128  # 0x80 and up: grow_seed
    return bytes([len(ops)]) + patches + ops


# The growth phase's parameter g (Runner::Grow in segment_fuzzer.cc):
# inserts 12 + 6 * n, value size per VALUE_*, a Reserve during the first
# migration (else halfway), every fourth insert through the handle with
# auto_grow off, at every third insert erase the key inserted two before
# (else at every seventh).
def G(n=0, value=0, reserve_migrating=False, fixed_writes=False,
      erase_often=False):
    assert 0 <= n < 8 and 0 <= value < 4
    return (n | (value << 3) | (reserve_migrating << 5) | (fixed_writes << 6)
            | (erase_often << 7))


VALUE_24, VALUE_300, VALUE_1200, VALUE_4500 = range(4)


def grow_seed(g, patches=b"", ops=b""):
    """A seed whose operations are followed by the growth phase."""
    assert len(ops) < 128
    return bytes([0x80 | len(ops), g]) + patches + ops


SEEDS = {
    # The template as is: the default program, then every operation.
    "00-template-default-program": seed(),
    "01-template-every-op": seed(ops=READS + CHECKED + op(GET_LOCKED, 4)
                                 + WRITES + op(PUT_LARGE, 12, 5)
                                 + op(PUT_LARGE, 15, 7) + op(ADD_OP, 0, 4)
                                 + op(ADD_OP, 1, 4) + op(CAS, 8 + 3)
                                 + op(CAS, 10) + op(WRITE, 5) + op(FILL, 2)
                                 + CHECKED + op(FILL, 1) + op(FOR_EACH)
                                 + op(GET, 15) + op(PUT, 15) + CHECKED),
    # Header identity: each refused by Attach.
    "02-header-magic-flipped": seed(patch(HDR(0), FLIP(9))),
    "03-header-magic-zero": seed(patch(HDR(0), CONST("0"))),
    "04-header-version": seed(patch(HDR(1), SMALL(2), LOW32)),
    "05-header-size-raw-bytes": seed(raw(12, struct.pack("<I", 8192))),
    "06-header-fingerprint": seed(patch(HDR(2), ADD(1))),
    # Geometry that still attaches: max_items 8 < 9 live entries (still 16
    # slots), heap_size and heap_size_now 16 bytes short (the same segment
    # size): the last free block overruns the heap.
    "07-header-geometry-that-attaches": seed(
        patch(HDR(4), SMALL(8)) + patch(HDR(8), ADD(-16))
        + patch(HDR(57), ADD(-16)),
        op(PUT_LARGE, 13, 11) + READS + CHECKED + WRITES + op(FILL, 0)),
    "08-header-segment-size-and-slot-count": seed(patch(HDR(3), ADD(16))
                                                  + patch(HDR(5), CONST("2"))),
    # Slots pointing where no entry is: the header, the journal, past the
    # heap, misaligned, into an entry, at a free block.
    "09-slot-blocks-out-of-place": seed(
        patch(SLOT(LIVE, 0, BLOCK), SMALL(64))
        + patch(SLOT(LIVE, 1, BLOCK), CONST("journal_offset"))
        + patch(SLOT(LIVE, 2, BLOCK), CONST("heap_end"))
        + patch(SLOT(LIVE, 3, BLOCK), CONST("~0"))
        + patch(SLOT(LIVE, 4, BLOCK), ENTRY(4, 1))
        + patch(SLOT(LIVE, 5, BLOCK), CONST("heap_offset+8"))
        + patch(SLOT(LIVE, 6, BLOCK), FREE(0))
        + patch(SLOT(TOMB, 0, BLOCK), FREE(2, 2))),
    # Slot 1 becomes a copy of slot 2: the same key live twice.
    "10-slot-duplicate-key": seed(
        patch(SLOT(LIVE, 1, HASH), COPY(SLOT(LIVE, 2, HASH)))
        + patch(SLOT(LIVE, 1, BLOCK), COPY(SLOT(LIVE, 2, BLOCK))),
        READS + CHECKED + WRITES + op(FILL, 1) + CHECKED),
    # Odd sequences with no intent: readers meet a "dead writer" and repair.
    "11-odd-slot-and-table-seq": seed(patch(SLOT(LIVE, 0, SEQ), ADD(1))
                                      + patch(SLOT(EMPTY, 0, SEQ), ADD(1))
                                      + patch(HDR(16), ADD(1))),
    # Entry blocks: free bit on a live block, lengths out of range.
    "12-entry-tags-and-lengths": seed(
        patch(ENTRY_WORD(0, 0), FLIP(0))
        + patch(ENTRY_WORD(1, 1), CONST("~0"))
        + patch(ENTRY_WORD(2, 2), CONST("max_key+1"))
        + patch(ENTRY_WORD(3, 0), ADD(16))
        + patch(ENTRY_WORD(5, 0), FLIP(1))),
    # Free lists: a head at an allocated block, a self loop, a bad back link,
    # a wrong footer, a bitmap bit without a list.
    "13-free-list-heads-and-links": seed(
        patch(CLASS_HEAD(0), ENTRY(0))
        + patch(FREE_WORD(1, 1), FREE(1))
        + patch(FREE_WORD(2, 2), SMALL(-1))
        + patch(FREE_WORD(3, 0xFF), ADD(16))
        + patch(CTL(4), FLIP(20)),
        op(PUT_LARGE, 3, 11) + op(PUT_LARGE, 6, 12) + op(PUT_LARGE, 7, 11)
        + op(PUT_LARGE, 12, 12) + op(ERASE, 4) + op(ERASE, 5) + CHECKED
        + op(FILL, 0)),
    # Intent records: a writer "died" in each operation and phase.
    "14-intent-insert-started-rolls-back": seed(
        patch(INTENT(0), SMALL(1)) + patch(INTENT(1), SMALL(0))
        + patch(INTENT(2), SLOT_INDEX(EMPTY, 0)) + patch(INTENT(3), CONST("0"))
        + patch(INTENT(4), FREE(3)), READS + CHECKED + WRITES + CHECKED),
    "15-intent-insert-staged-free-block": seed(
        patch(INTENT(0), SMALL(1)) + patch(INTENT(1), SMALL(1))
        + patch(INTENT(2), SLOT_INDEX(EMPTY, 1)) + patch(INTENT(4), FREE(2))
        + patch(INTENT(5), COPY(INTENT(4)))),
    "16-intent-update-in-place-journal": seed(
        patch(INTENT(0), SMALL(2)) + patch(INTENT(1), SMALL(1))
        + patch(INTENT(2), SLOT_INDEX(LIVE, 7)) + patch(INTENT(3), ENTRY(7))
        + patch(INTENT(6), SMALL(16)) + patch(JOURNAL(0), LIT(0x4A4F55524E414C21)),
        READS + CHECKED + WRITES),
    "17-intent-relocate-published": seed(
        patch(INTENT(0), SMALL(3)) + patch(INTENT(1), SMALL(2))
        + patch(INTENT(2), SLOT_INDEX(LIVE, 2)) + patch(INTENT(3), ENTRY(2))
        + patch(INTENT(4), ENTRY(3)),
        op(GET, 5) + CHECKED + READS + WRITES),
    "18-intent-erase-completes": seed(
        patch(INTENT(0), SMALL(4)) + patch(INTENT(1), SMALL(0))
        + patch(INTENT(2), SLOT_INDEX(LIVE, 3)) + patch(INTENT(3), ENTRY(3)),
        CHECKED + READS + WRITES + op(FILL, 4) + CHECKED),
    "19-intent-purge-rebuilds-index": seed(
        patch(INTENT(0), SMALL(5)) + patch(SLOT(LIVE, 0, BLOCK), CONST("0"))
        + patch(SLOT(TOMB, 1, BLOCK), CONST("0")),
        READS + CHECKED + WRITES + op(FILL, 1) + CHECKED),
    "20-intent-repair-with-odd-seq": seed(
        patch(INTENT(0), SMALL(6)) + patch(SLOT(LIVE, 1, SEQ), ADD(1))
        + patch(HDR(24), ADD(2)),
        op(GET, 4) + op(FOR_EACH) + CHECKED + op(PUT, 11) + CHECKED),
    "21-intent-unknown-op-slot-out-of-range": seed(
        patch(INTENT(0), SMALL(7)) + patch(INTENT(1), SMALL(9))
        + patch(INTENT(2), CONST("slot_count"))),
    # Counters, lock words and value bytes: wrong, but nothing reads them
    # blindly (the value bytes and lock words even pass Check).
    "22-counters-lock-words-values": seed(
        patch(HDR(24), ADD(3)) + patch(HDR(25), SMALL(0))
        + patch(CTL(0), ADD(16)) + patch(CTL(3), ADD(-1))
        + patch(HDR(26), CONST("~0"))
        + patch(HDR(32), SMALL(5), LOW32) + patch(HDR(32), SMALL(3), HIGH32)
        + patch(HDR(33), SMALL(1)) + patch(ENTRY_WORD(4, 5), LIT(0x5555))
        + patch(ENTRY_WORD(8, 1), ADD(-1)),
        op(STATS) + op(ALLOC_STATS) + CHECKED + op(ERASE, 4) + op(ERASE, 5)
        + op(ERASE, 7) + op(STATS) + CHECKED + READS + WRITES + op(FILL, 6)
        + op(FILL, 3) + CHECKED),
    # Reproduces a finding (reported, not fatal: see segment_fuzzer.cc): every
    # list head is invalid, so Add's insert fails in the allocator, and Add
    # returns the allocator's DataLoss without the dict's name (Add and
    # CompareAndSwap run their body in WithLock() through a lambda that
    # returns OK, so WithLock never annotates the real status). With
    # op(CAS, 4) or op(WRITE, 12) first instead, CompareAndSwap and
    # Batch::Put show the same.
    "24-finding-add-error-without-dict-name": seed(
        patch(CLASS_HEAD(0), SMALL(7)) + patch(CLASS_HEAD(1), SMALL(7))
        + patch(CLASS_HEAD(2), SMALL(7)) + patch(CLASS_HEAD(3), SMALL(7)),
        op(ADD_OP, 11, 0) + op(CAS, 4) + op(WRITE, 12) + CHECKED),
    # The change log: positions and records that cannot be true. Readers
    # must answer DataLoss or OutOfRange (never crash or loop), Check must
    # say DataLoss, and the next write starts a fresh log.
    "25-change-log-head-and-tail-garbage": seed(
        patch(HDR(50), ADD(8)) + patch(HDR(51), CONST("~0")),
        op(STATS) + READS + CHECKED + WRITES + op(STATS) + CHECKED),
    "26-change-log-head-past-the-ring": seed(
        patch(HDR(50), CONST("1<<32")),
        op(STATS) + WRITES + op(STATS) + CHECKED),
    "27-change-log-record-corrupt": seed(
        patch(LOG(9), FLIP(60)) + patch(LOG(12), CONST("max_key+1"), LOW32)
        + patch(LOG(20), SMALL(3), HIGH32),
        op(STATS) + CHECKED + WRITES + op(STATS) + op(FILL, 2) + op(STATS)
        + CHECKED),
    "28-change-log-marks-garbage": seed(
        patch(LOG(0), CONST("~0")) + patch(LOG(1), CONST("heap_mid"))
        + patch(HDR(48), ADD(100)),
        op(STATS) + WRITES + op(FILL, 4) + op(STATS) + CHECKED),
    # The growth lines (format 4): a heap end past the file or the bound,
    # a table word that points elsewhere, a bound below the segment, a
    # capacity below the size, a migration record that no growth left.
    # Attach refuses what it can check (DataLoss); the rest must be caught
    # by repair or Check, never crash.
    "29-growth-heap-size-now-past-the-file": seed(
        patch(HDR(57), ADD(64)), READS + CHECKED + WRITES + CHECKED),
    "30-growth-heap-size-now-below-heap-size": seed(
        patch(HDR(57), ADD(-16)), READS + CHECKED),
    "31-growth-max-segment-size-garbage": seed(
        patch(HDR(13), CONST("heap_offset")) + patch(HDR(13), FLIP(3)),
        READS + CHECKED),
    "32-growth-table-word-garbage": seed(
        patch(HDR(17), FLIP(4)),
        READS + CHECKED + WRITES + op(FILL, 2) + CHECKED),
    "33-growth-table-word-into-the-heap": seed(
        patch(HDR(17), ENTRY(2), LOW32),
        READS + CHECKED + WRITES + CHECKED),
    "34-growth-capacity-below-size": seed(
        patch(HDR(56), SMALL(3)) + patch(HDR(59), CONST("~0")),
        READS + CHECKED + WRITES + op(FILL, 1) + CHECKED),
    "35-growth-migration-record-garbage": seed(
        patch(HDR(60), COPY(HDR(17))) + patch(HDR(61), ENTRY(4))
        + patch(HDR(62), CONST("heap_size")) + patch(HDR(63), SMALL(5))
        + patch(HDR(64), SMALL(2)),
        READS + CHECKED + WRITES + op(FILL, 2) + op(FILL, 3) + CHECKED),
    "36-growth-table-block-and-epoch": seed(
        patch(HDR(58), ENTRY(1)) + patch(HDR(34), CONST("~0")),
        READS + CHECKED + WRITES + CHECKED),
    # The growth phase (a second handle with auto_grow on; input byte 0 has
    # bit 7 set, byte 1 is g): on the template, the table migrates at
    # least once and the heap grows, with reads and writes through the
    # handle with auto_grow off in between; Reserve; Check must pass and the
    # model's every key read back through both handles.
    "37-grow-template-default-program": grow_seed(G(2, VALUE_1200)),
    "38-grow-template-every-op-large-values": grow_seed(
        G(7, VALUE_4500, True, True, True),
        ops=READS + CHECKED + WRITES + op(FILL, 2) + CHECKED),
    "39-grow-template-reserve-during-migration": grow_seed(
        G(3, VALUE_1200, reserve_migrating=True), ops=CHECKED),
    "40-grow-template-full-table-and-heap": grow_seed(
        G(5, VALUE_300, fixed_writes=True, erase_often=True),
        ops=CHECKED + op(FILL, 0) + op(FILL, 6) + op(PUT_LARGE, 12, 11)
        + CHECKED),
    "41-grow-template-unchecked": grow_seed(G(2, VALUE_24), ops=op(FILL, 1)),
    # Damaged growth lines, then growth.
    "42-grow-heap-size-now-past-the-file": grow_seed(
        G(4, VALUE_1200, True), patch(HDR(57), ADD(64)), READS),
    "43-grow-heap-size-now-far-past-the-file": grow_seed(
        G(6, VALUE_4500), patch(HDR(57), CONST("1<<32")), op(STATS)),
    "44-grow-heap-size-now-below-heap-size": grow_seed(
        G(3, VALUE_300, fixed_writes=True), patch(HDR(57), ADD(-16))),
    "45-grow-table-word-into-the-heap": grow_seed(
        G(4, VALUE_24, True), patch(HDR(17), ENTRY(2), LOW32), READS),
    "46-grow-table-word-more-slots": grow_seed(
        G(2, VALUE_300), patch(HDR(17), ADD(1)), op(GET, 4)),
    "47-grow-capacity-below-size": grow_seed(
        G(1, VALUE_300, erase_often=True), patch(HDR(56), SMALL(3)), READS),
    "48-grow-capacity-above-the-table": grow_seed(
        G(5, VALUE_24), patch(HDR(56), SMALL(40)), op(STATS)),
    # A migration record mid-way: a new table of 32 slots in a live entry's
    # block (and in a free block), partly zeroed and copied.
    "49-grow-migration-record-mid-way": grow_seed(
        G(3, VALUE_300, True),
        patch(HDR(60), ENTRY(8)) + patch(HDR(60), ADD(5))
        + patch(HDR(61), ENTRY(8)) + patch(HDR(62), SMALL(64))
        + patch(HDR(63), SMALL(6)) + patch(HDR(64), SMALL(1)),
        op(GET, 0) + op(PUT, 11) + op(GET, 11)),
    "50-grow-migration-record-in-a-free-block": grow_seed(
        G(4, VALUE_1200, fixed_writes=True),
        patch(HDR(60), FREE(3)) + patch(HDR(60), ADD(5))
        + patch(HDR(61), FREE(3)) + patch(HDR(62), CONST("heap_size"))
        + patch(HDR(63), CONST("slot_count"))),
    "51-grow-migration-record-garbage": grow_seed(
        G(2, VALUE_300, True, erase_often=True),
        patch(HDR(60), COPY(HDR(17))) + patch(HDR(61), ENTRY(4))
        + patch(HDR(62), CONST("heap_size")) + patch(HDR(63), SMALL(5))
        + patch(HDR(64), SMALL(2))),
    "52-grow-table-block-and-epoch": grow_seed(
        G(3, VALUE_24), patch(HDR(58), ENTRY(1)) + patch(HDR(34), CONST("~0"))),
    "53-grow-max-segment-size-at-the-segment": grow_seed(
        G(4, VALUE_1200, True), patch(HDR(13), CONST("segment_size")),
        op(STATS)),
    "54-grow-max-segment-size-garbage": grow_seed(
        G(2, VALUE_300), patch(HDR(13), CONST("heap_offset"))),
    # A writer "died" growing: the heap's step, the table's allocation.
    "55-grow-intent-heap-step": grow_seed(
        G(3, VALUE_1200),
        patch(INTENT(0), SMALL(7)) + patch(INTENT(2), CONST("heap_size+16"))),
    "56-grow-intent-table-allocated": grow_seed(
        G(3, VALUE_300, True),
        patch(INTENT(0), SMALL(8)) + patch(INTENT(1), SMALL(0))
        + patch(INTENT(4), FREE(3)) + patch(INTENT(5), FREE(3))
        + patch(INTENT(5), ADD(5))),
    "57-grow-intent-table-switch": grow_seed(
        G(3, VALUE_300),
        patch(INTENT(0), SMALL(8)) + patch(INTENT(1), SMALL(2))
        + patch(INTENT(3), CONST("0")) + patch(INTENT(4), ENTRY(8))
        + patch(INTENT(5), ENTRY(8)) + patch(INTENT(5), ADD(5))),
    # Damage outside the growth lines, then growth.
    "58-grow-free-list-heads-and-links": grow_seed(
        G(5, VALUE_1200, fixed_writes=True),
        patch(CLASS_HEAD(0), ENTRY(0)) + patch(FREE_WORD(1, 1), FREE(1))
        + patch(FREE_WORD(3, 0xFF), ADD(16))),
    "59-grow-slot-blocks-out-of-place": grow_seed(
        G(4, VALUE_300, erase_often=True),
        patch(SLOT(LIVE, 2, BLOCK), CONST("heap_end"))
        + patch(SLOT(LIVE, 4, BLOCK), ENTRY(4, 1))
        + patch(SLOT(TOMB, 0, BLOCK), FREE(2, 2))),
    "60-grow-last-free-block-overruns-the-heap": grow_seed(
        G(4, VALUE_4500, True),
        patch(HDR(8), ADD(-16)) + patch(HDR(57), ADD(-16))),
    # A table word naming 32 slots where the dict has its initial 16 (still
    # inside the slot region): Attach and, once the erased keys are gone,
    # Check accept it, and Inspect walks the 32 slots (the fuzzer bounded
    # Inspect's probe lengths by the template's 16 slots until the growth
    # lines came; a finding of the fuzzer, not of the engine).
    "61-table-word-more-slots-inspect": seed(
        patch(HDR(17), ADD(1)),
        op(INSPECT) + op(FILL, 1) + CHECKED + op(INSPECT) + op(PUT, 11)
        + CHECKED + op(INSPECT)),
    # A raw image shorter than the header region.
    "23-raw-short-image": b"\xff" + struct.pack("<QII", 0x5A43495043444943, 1, 5896)
                          + bytes(40),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):  # only the files this script writes
        if name[:2].isdigit() and name[2] == "-":
            os.remove(os.path.join(out, name))
    for name, data in SEEDS.items():
        assert len(data) < 4096, name
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
