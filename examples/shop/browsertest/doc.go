// Package browsertest drives the example shop's operator's console in
// headless Chromium (chromedp), as an administrator would: signing in,
// reading the overview, watching a breaker open and resetting it,
// replaying a dead letter, retrying a saga's failed compensation, and
// being refused where the console must refuse. It is a module of its own,
// so that chromedp never becomes a dependency of microkit's users.
//
// The tests read the browser's path from MICROKIT_CHROMIUM and skip
// without it; with MICROKIT_SCREENSHOTS set to a folder (relative to the
// repository's root) they also write the screenshots docs/console holds.
// See README.md.
package browsertest
