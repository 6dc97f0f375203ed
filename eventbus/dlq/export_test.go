package dlq

import "testing"

// SetBatchSize sets how many entries the batch operations take at a time
// until the test ends.
func SetBatchSize(t *testing.T, n int) {
	old := batchSize
	batchSize = n
	t.Cleanup(func() { batchSize = old })
}
