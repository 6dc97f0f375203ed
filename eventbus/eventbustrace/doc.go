// Package eventbustrace traces event bus traffic with package tracing's
// message spans (OpenTelemetry messaging conventions): a PRODUCER span per
// published message, whose context travels in the message's Metadata, and
// a CONSUMER span per delivery that is a child of, and linked to, that
// context, so that one trace runs from the publisher through the broker to
// the handler, across processes.
//
// Start with Publisher (wrap the publisher your code publishes through) and
// Middleware (add it to the eventbus.Router, outside DeadLetter and Retry so
// that its span covers the whole delivery and sees its outcome).
//
// It lives apart from package eventbus so that the core compiles nothing of
// OpenTelemetry.
package eventbustrace
