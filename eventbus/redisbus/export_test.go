package redisbus

import "github.com/redis/go-redis/v9"

// SetPublishQueueHook sets f, called each time a Publish call queues
// behind a pipeline in flight, so that tests know when calls wait without
// sleeping. Set it before the first Publish.
func SetPublishQueueHook(b *Bus, f func()) { b.group.SetQueueHook(f) }

// Client returns the bus's client, so that tests hook the client Connect
// made.
func Client(b *Bus) *redis.Client { return b.rdb }
