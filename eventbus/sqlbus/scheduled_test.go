package sqlbus_test

import (
	"testing"

	"github.com/go-microkit/microkit/eventbus/outbox/outboxtest"
)

// TestScheduled runs the scheduled-publishing scenarios through a bus on
// each dialect, in real time, each on SQLite and PostgreSQL outboxes.
func TestScheduled(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			outboxtest.RunScheduled(t, outboxtest.Config{Connect: instances(open(t, d))})
		})
	}
}
