// Package discoverytarget lets a gateway route send its requests to a
// discovered service: each attempt picks an instance through a
// discovery.Resolver and its balancer, and reports the outcome back, so
// that outlier ejection takes a failing instance out of rotation and a
// retry goes to another instance.
//
// Start at [New]: pass the Target it returns as gateway.Route.Target. It
// lives in a subpackage so that a gateway with static upstreams compiles
// nothing of discovery (which brings Prometheus).
package discoverytarget
