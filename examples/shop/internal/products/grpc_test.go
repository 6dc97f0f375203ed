package products

import (
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/grpc/mem"
)

func ExampleCodec() {
	var c Codec
	b, _ := c.Marshal(&CheckStockRequest{ProductID: "p-mouse", Quantity: 2})
	fmt.Println(c.Name(), string(b.Materialize()))

	var req CheckStockRequest
	_ = c.Unmarshal(b, &req)
	fmt.Printf("%+v\n", req)
	// Output:
	// json {"product_id":"p-mouse","quantity":2}
	// {ProductID:p-mouse Quantity:2}
}

func FuzzCodecUnmarshal(f *testing.F) {
	f.Add([]byte(`{"id":"p-keyboard","name":"Keyboard","price_cents":8900,"stock":3}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Codec
		var p Product
		if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &p); err != nil {
			return
		}
		// What decodes encodes and decodes to the same value.
		b, err := c.Marshal(&p)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", p, err)
		}
		var q Product
		if err := c.Unmarshal(b, &q); err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip of %+v gave %+v, %v", p, q, err)
		}
	})
}
