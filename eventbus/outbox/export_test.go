package outbox

// SetInboxQueueHook calls f each time a delivery queues behind a running
// group-commit batch of in (see groupcommit.Group.SetQueueHook).
func SetInboxQueueHook(in *Inbox, f func()) { in.group.SetQueueHook(f) }

// DueQuery and NextDueQuery are the relay's queries for the due events of
// a table and for the next due time, for their plans' test.
var DueQuery, NextDueQuery = dueQuery, nextDueQuery

// LockAndFetchQuery is a relay round's statement on PostgreSQL: the lock,
// the due batch and the next due time.
var LockAndFetchQuery = lockAndFetchQuery
