// Package consul is the Consul adapter of [discovery.Registry], on
// github.com/hashicorp/consul/api.
//
// A first Consul client registers on start-up, never deregisters, and
// queries Consul on every request. Here [Registry.Register] registers
// through the local agent with an HTTP, gRPC or TTL check (see
// [WithHTTPCheck], [WithGRPCCheck], [WithTTLCheck]) and
// DeregisterCriticalServiceAfter, and is idempotent;
// [Registry.Instances] asks for the passing instances; [Registry.Watch]
// follows a service with blocking queries (WaitIndex), so a health change
// reaches the watcher as soon as Consul knows it, with backoff on errors and
// the index reset Consul's documentation asks for. With a TTL check the
// Registry is a [discovery.Heartbeater], which [discovery.Announce] uses.
//
// Start with [New](nil), which reads the standard CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN(_FILE), CONSUL_HTTP_SSL, CONSUL_CACERT,
// CONSUL_CLIENT_CERT/KEY and CONSUL_TLS_SERVER_NAME variables, and hand it to
// [discovery.NewResolver] and [discovery.Announce]. [WithAddress],
// [WithToken] and [WithDatacenter] set the agent's address, the ACL token
// and the datacenter to read without building an *api.Config.
package consul
