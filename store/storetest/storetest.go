// Package storetest is the conformance suite of store.Backend: every
// implementation runs it from its own tests.
package storetest

import (
	"testing"
	"time"

	"github.com/caddy2fa/caddy2fa/store"
)

const (
	// shortTTL is the lifetime of values the suite waits out. Short, so the
	// suite stays fast; nothing is asserted about it that load could break.
	shortTTL = 150 * time.Millisecond
	// waitDeadline bounds every poll for something that must happen soon.
	waitDeadline = 5 * time.Second
	pollEvery    = 10 * time.Millisecond
	// deliveryDeadline bounds how long a published change may take to arrive.
	deliveryDeadline = time.Second
	// clockSlack absorbs rounding of expiry times (Redis keeps milliseconds).
	clockSlack = 25 * time.Millisecond
	// racers is how many goroutines contend in the race tests.
	racers = 20
)

// Run checks b against the Backend contract. open must return a new, empty
// backend each time it is called (once per subtest; subtests run in
// parallel) and arrange its own cleanup, which must tolerate the suite
// having closed it already.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b store.Backend)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"EmptyValue", testEmptyValue},
		{"Expiry", testExpiry},
		{"InvalidInput", testInvalidInput},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"Delete", testDelete},
		{"Take", testTake},
		{"TakeRace", testTakeRace},
		{"Update", testUpdate},
		{"UpdateRace", testUpdateRace},
		{"UpdateJSON", testUpdateJSON},
		{"UpdateWithKnownValues", testUpdateWithKnownValues},
		{"Incr", testIncr},
		{"IncrRace", testIncrRace},
		{"IncrByZeroOnlyReads", testIncrByZeroOnlyReads},
		{"IncrWindow", testIncrWindow},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"BucketsIsolated", testBucketsIsolated},
		{"OddNames", testOddNames},
		{"ListMany", testListMany},
		{"ListManyLarge", testListManyLarge},
		{"ListManyInvalidInput", testListManyInvalidInput},
		{"PutIfAbsentManyLeavesExistingKeysUntouched", testPutIfAbsentManyLeavesExistingKeysUntouched},
		{"PutIfAbsentManyHonoursTTL", testPutIfAbsentManyHonoursTTL},
		{"PutIfAbsentManyRejectsInvalidBatchBeforeWriting", testPutIfAbsentManyRejectsInvalidBatchBeforeWriting},
		{"PutIfAbsentManyAfterCloseIsUnavailable", testPutIfAbsentManyAfterCloseIsUnavailable},
		{"PutIfAbsentManyLargeBatch", testPutIfAbsentManyLargeBatch},
		{"GetManyReadsEveryKeyInOrder", testGetManyReadsEveryKeyInOrder},
		{"GetManyRejectsInvalidKeys", testGetManyRejectsInvalidKeys},
		{"GetManyAfterCloseIsUnavailable", testGetManyAfterCloseIsUnavailable},
		{"GetManyLargeBatch", testGetManyLargeBatch},
		{"PutIfAbsentManyLeavesExistingKeysUntouchedUnbatched", unbatched(testPutIfAbsentManyLeavesExistingKeysUntouched)},
		{"PutIfAbsentManyHonoursTTLUnbatched", unbatched(testPutIfAbsentManyHonoursTTL)},
		{"PutIfAbsentManyRejectsInvalidBatchBeforeWritingUnbatched", unbatched(testPutIfAbsentManyRejectsInvalidBatchBeforeWriting)},
		{"PutIfAbsentManyAfterCloseIsUnavailableUnbatched", unbatched(testPutIfAbsentManyAfterCloseIsUnavailable)},
		{"PutIfAbsentManyLargeBatchUnbatched", unbatched(testPutIfAbsentManyLargeBatch)},
		{"GetManyReadsEveryKeyInOrderUnbatched", unbatched(testGetManyReadsEveryKeyInOrder)},
		{"GetManyRejectsInvalidKeysUnbatched", unbatched(testGetManyRejectsInvalidKeys)},
		{"GetManyAfterCloseIsUnavailableUnbatched", unbatched(testGetManyAfterCloseIsUnavailable)},
		{"GetManyLargeBatchUnbatched", unbatched(testGetManyLargeBatch)},
		{"PublishSubscribe", testPublishSubscribe},
		{"SubscribeCancel", testSubscribeCancel},
		{"SlowSubscriber", testSlowSubscriber},
		{"Ping", testPing},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}
