package eventbus_test

import (
	"reflect"
	"testing"

	"github.com/go-microkit/microkit/eventbus"
)

func TestSubjectWaves(t *testing.T) {
	tests := []struct {
		name     string
		subjects []string
		want     [][]int
	}{
		{"empty batch", nil, nil},
		{"no subjects", []string{"", "", ""}, nil},
		{"distinct subjects", []string{"a", "b", "", "c"}, nil},
		{"one subject twice", []string{"a", "a"}, [][]int{{0}, {1}}},
		{"interleaved", []string{"a", "b", "a", "", "b", "a"}, [][]int{{0, 1, 3}, {2, 4}, {5}}},
		{"unsubjected after repeats stay in wave 0", []string{"a", "a", "a", ""}, [][]int{{0, 3}, {1}, {2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := make([]*eventbus.Message, len(tt.subjects))
			for i, s := range tt.subjects {
				msgs[i] = &eventbus.Message{ID: eventbus.NewID(), Type: "t", Subject: s}
			}
			if got := eventbus.SubjectWaves(msgs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SubjectWaves(%q) = %v, want %v", tt.subjects, got, tt.want)
			}
		})
	}
}
