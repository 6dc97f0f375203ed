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
//	    retry:                      # a retry.Policy; default none
//	      max_attempts: 3           # the first try included
//	      max_elapsed: 1s           # default no bound but timeout
//	      backoff: {initial: 50ms, max: 1s, multiplier: 2, jitter: full}
//	      statuses: [502, 503]      # default 502, 503, 504
//	    breaker: true               # Registry.Breakers for this route
//	    middleware: [auth, limit]   # Registry.Middleware, outermost first
//	    preserve_host: false
//
// The retry mapping also reads its older forms: attempts, the number of
// retries after the first try (attempts: 2 is max_attempts: 3), and a
// backoff of one duration d, a pause of up to d before each retry
// (retry.Backoff{Initial: d, Max: d}, with full jitter).
//
// JSON is read by the same parser (JSON is YAML), with the same keys.
package routefile
