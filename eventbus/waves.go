package eventbus

// SubjectWaves splits a batch for an adapter that publishes messages
// concurrently yet must store the messages of each Subject in their order,
// even when one fails and is resent after later ones were accepted. Wave k
// holds the indexes, in batch order, of the k-th message of every Subject,
// and wave 0 also every message without a Subject. An adapter publishes a
// wave only once the one before is stored: then no message can land
// before an earlier one of its Subject, whatever fails in between.
//
// It returns nil when no two messages share a Subject, so that the common
// batch (distinct or no Subjects) goes out in one wave without allocating.
func SubjectWaves(msgs []*Message) [][]int {
	var rank map[string]int
	repeated := false
	for _, m := range msgs {
		if m.Subject == "" {
			continue
		}
		if rank == nil {
			rank = make(map[string]int, len(msgs))
		}
		if rank[m.Subject] > 0 {
			repeated = true
		}
		rank[m.Subject]++
	}
	if !repeated {
		return nil
	}
	clear(rank)
	var waves [][]int
	for i, m := range msgs {
		k := 0
		if m.Subject != "" {
			k = rank[m.Subject]
			rank[m.Subject]++
		}
		if k == len(waves) {
			waves = append(waves, nil)
		}
		waves[k] = append(waves[k], i)
	}
	return waves
}
