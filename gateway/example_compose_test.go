package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/go-microkit/microkit/gateway"
)

// Order, Item, User and Product are what the order, user and product
// services answer.
type (
	Order struct {
		ID     string `json:"id"`
		UserID string `json:"user_id"`
		Items  []Item `json:"items"`
	}
	Item struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	}
	User struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	Product struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		PriceCents int    `json:"price_cents"`
	}
)

// OrderDetails is the composed view. The order and its user are required;
// a product that cannot be fetched in time is null, and the view partial.
type OrderDetails struct {
	Order    Order      `json:"order"`
	User     User       `json:"user"`
	Products []*Product `json:"products"`
}

// orderDetails composes the details of order id from the services at the
// base URLs orders, users and products: first the order, then, since they
// need its user id and items, the user and every product in parallel.
func orderDetails(client *http.Client, orders, users, products, id string) func(*gateway.Composition, *OrderDetails) error {
	return func(c *gateway.Composition, d *OrderDetails) error {
		gateway.Fetch(c, gateway.Part{Name: "order", Required: true}, &d.Order,
			gateway.GetJSON[Order](client, orders+"/orders/"+url.PathEscape(id), nil))
		if err := c.Wait(); err != nil {
			return err // no order, nothing to fan out to
		}
		gateway.Fetch(c, gateway.Part{Name: "user", Required: true}, &d.User,
			gateway.GetJSON[User](client, users+"/users/"+url.PathEscape(d.Order.UserID), nil))
		d.Products = make([]*Product, len(d.Order.Items))
		for i, item := range d.Order.Items {
			gateway.Fetch(c, gateway.Part{Name: "product " + item.ProductID, Timeout: 500 * time.Millisecond}, &d.Products[i],
				gateway.GetJSON[*Product](client, products+"/products/"+url.PathEscape(item.ProductID), nil))
		}
		return nil
	}
}

// A dependent fan-out: fetch the order, then its user and each of its
// products in parallel, into a typed view. Product p2 is gone, so the view
// is partial; an unknown order is the order service's 404.
func ExampleCompose() {
	service := func(answers map[string]string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, ok := answers[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			_, _ = fmt.Fprint(w, body)
		}))
	}
	orders := service(map[string]string{
		"/orders/o1": `{"id":"o1","user_id":"u1","items":[{"product_id":"p1","quantity":2},{"product_id":"p2","quantity":1}]}`})
	users := service(map[string]string{"/users/u1": `{"id":"u1","name":"Ada"}`})
	products := service(map[string]string{"/products/p1": `{"id":"p1","name":"Keyboard","price_cents":4900}`})
	defer orders.Close()
	defer users.Close()
	defer products.Close()

	ctx := context.Background()
	for _, id := range []string{"o1", "o9"} {
		details, err := gateway.Compose(ctx, 2*time.Second, orderDetails(nil, orders.URL, users.URL, products.URL, id))
		if err != nil {
			status, code, _ := gateway.ComposeStatus(ctx, err)
			fmt.Println(id, status, code)
			continue
		}
		body, _ := json.Marshal(details)
		fmt.Println(id, string(body))
	}
	// Output:
	// o1 {"data":{"order":{"id":"o1","user_id":"u1","items":[{"product_id":"p1","quantity":2},{"product_id":"p2","quantity":1}]},"user":{"id":"u1","name":"Ada"},"products":[{"id":"p1","name":"Keyboard","price_cents":4900},null]},"partial":true,"failed":[{"part":"product p2","reason":"error"}]}
	// o9 404 not_found
}
