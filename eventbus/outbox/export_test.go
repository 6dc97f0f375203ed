package outbox

// SetInboxQueueHook calls f each time a delivery queues behind a running
// group-commit batch of in (see groupcommit.Group.SetQueueHook).
func SetInboxQueueHook(in *Inbox, f func()) { in.group.SetQueueHook(f) }
