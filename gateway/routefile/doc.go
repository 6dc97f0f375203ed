// Package routefile loads gateway routes from a YAML or JSON file, so that
// routes can change without a rebuild. Every error names the line and the
// field at fault:
//
//	routefile: line 7: routes[1].timeout: invalid duration "2x"
//
// Start at [Load] or [Parse] with a [Registry], which maps the names a file
// uses (middleware, services, breakers, in-process handlers) to Go values.
// The format:
//
//	routes:
//	  - name: users                 # optional; defaults to the path
//	    path: /api/users/**         # required
//	    methods: [GET, POST]        # optional; default all
//	    target: http://users:8080   # a static URL, or:
//	    service: user-service       #   a discovered service (Registry.Service), or:
//	    handler: order-details      #   served in process (Registry.Handlers)
//	    strip_prefix: /api
//	    rewrite: /v2/{**}
//	    timeout: 2s
//	    body_read_timeout: 5m       # for uploads; default 30s
//	    upgrades: [websocket]       # default none
//	    retry: {attempts: 2, statuses: [502, 503], backoff: 50ms}
//	    breaker: true               # Registry.Breakers for this route
//	    middleware: [auth, limit]   # Registry.Middleware, outermost first
//	    preserve_host: false
//
// JSON is read by the same parser (JSON is YAML), with the same keys.
package routefile
