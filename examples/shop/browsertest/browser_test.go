package browsertest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The environment the tests read.
const (
	// chromiumEnv names the Chromium (or Chrome) binary; the tests skip
	// without it.
	chromiumEnv = "MICROKIT_CHROMIUM"
	// screenshotsEnv names the folder, relative to the repository's root
	// unless absolute, that the tests write their screenshots to; unset,
	// they write none.
	screenshotsEnv = "MICROKIT_SCREENSHOTS"
)

// The viewport of every page, and so the size of every screenshot: wide
// enough for the console's tables, short enough to keep the images small.
const viewportWidth, viewportHeight = 1000, 600

// repoRoot is the repository's root, seen from this module's folder (where
// go test runs the tests).
const repoRoot = "../../.."

// tab is one test's browser: a Chromium process of its own, so that no
// cookie or header of one test reaches another, and its one tab.
type tab struct {
	t   *testing.T
	ctx context.Context // the tab's, ending with the test's time bound
}

// chromium returns the browser's path, or skips t when chromiumEnv is
// unset.
func chromium(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(chromiumEnv)
	if bin == "" {
		t.Skipf("%s is unset: set it to a Chromium binary to run the browser tests (on Debian: apt-get install chromium; %s=/usr/bin/chromium)", chromiumEnv, chromiumEnv)
	}
	return bin
}

// newTab starts headless Chromium, the binary bin, for t. The browser is
// stopped, and its profile removed, when t ends. Start the servers it
// visits first, so that their cleanups run after the browser's: a server
// that shuts down while a browser holds a connection it opened ahead of
// need waits five seconds for it (net/http's rule for new connections).
func newTab(t *testing.T, bin string) *tab {
	t.Helper()
	profile := t.TempDir() // removed after the browser stops: cleanups run last first
	alloc, stopBrowser := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.UserDataDir(profile),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(viewportWidth, viewportHeight))
	tabCtx, closeTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		closeTab()
		stopBrowser()
	})
	// The first action starts the browser, on a context without a time
	// bound: a bound on it would bound the browser's life.
	if err := chromedp.Do(tabCtx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(tabCtx, 2*time.Minute)
	t.Cleanup(cancel)
	return &tab{t: t, ctx: ctx}
}

// open loads url and returns the HTTP status of its document.
func (p *tab) open(url string) int64 {
	p.t.Helper()
	resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		p.t.Fatalf("open %s: %v", url, err)
	}
	return resp.Status
}

// A selector (sel) is CSS, or XPath when it starts with "/": XPath can
// pick a table row by the text of a cell.

// click clicks the element sel, which loads a page, and returns the HTTP
// status of that page's document (after redirects).
func (p *tab) click(sel string) int64 {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, clickOn(sel))
	if err != nil {
		p.t.Fatalf("click %s: %v", sel, err)
	}
	return resp.Status
}

// tick clicks the checkbox sel, which loads no page.
func (p *tab) tick(sel string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, clickOn(sel)); err != nil {
		p.t.Fatalf("tick %s: %v", sel, err)
	}
}

// clickOn is a click on the element sel.
func clickOn(sel string) chromedp.Action[chromedp.Void] {
	if strings.HasPrefix(sel, "/") {
		return chromedp.Click(chromedp.Search(sel))
	}
	return chromedp.Click(chromedp.CSS(sel))
}

// fill sets the value of the input sel.
func (p *tab) fill(sel, value string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.SetValue(chromedp.CSS(sel), value)); err != nil {
		p.t.Fatalf("fill %s: %v", sel, err)
	}
}

// text returns the visible text of the first element sel, waiting for it.
func (p *tab) text(sel string) string {
	p.t.Helper()
	var text chromedp.Action[string]
	if strings.HasPrefix(sel, "/") {
		text = chromedp.Text(chromedp.Search(sel))
	} else {
		text = chromedp.Text(chromedp.CSS(sel))
	}
	s, err := chromedp.Run(p.ctx, text)
	if err != nil {
		p.t.Fatalf("text of %s on %s: %v", sel, p.location(), err)
	}
	return strings.TrimSpace(s)
}

// count returns how many elements the XPath xpath matches on the page
// shown, without waiting for any.
func (p *tab) count(xpath string) int {
	p.t.Helper()
	quoted, _ := json.Marshal(xpath) // a string always marshals
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](
		`document.evaluate(`+string(quoted)+`, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`))
	if err != nil {
		p.t.Fatalf("count %s on %s: %v", xpath, p.location(), err)
	}
	return n
}

// location returns the URL of the page shown.
func (p *tab) location() string {
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return loc
}

// cookies returns the browser's cookies for url.
func (p *tab) cookies(url string) []*network.Cookie {
	p.t.Helper()
	res, err := chromedp.Run(p.ctx, func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	})
	if err != nil {
		p.t.Fatalf("cookies of %s: %v", url, err)
	}
	return res.Cookies
}

// setCookie gives the browser the cookie name=value for url, with path.
func (p *tab) setCookie(url, path, name, value string) {
	p.t.Helper()
	err := chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: url, Path: path,
			SameSite: network.CookieSameSiteStrict})
		return err
	}))
	if err != nil {
		p.t.Fatalf("set cookie %s: %v", name, err)
	}
}

// shot writes the top of the page, the viewport's width and at most its
// height, cut at the end of the content, as <name>.png into the
// screenshots folder, when screenshotsEnv names one.
func (p *tab) shot(name string) {
	p.t.Helper()
	p.save(name, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		height, err := chromedp.Evaluate[float64](`document.body.scrollHeight`)(ctx, t)
		if err != nil {
			return nil, err
		}
		res, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Clip: &page.Viewport{Width: viewportWidth, Height: min(height, viewportHeight), Scale: 1}})
		return res.Data, err
	})
}

// shotOf writes the element sel as <name>.png, like shot.
func (p *tab) shotOf(name, sel string) {
	p.t.Helper()
	if strings.HasPrefix(sel, "/") {
		p.save(name, chromedp.Screenshot(chromedp.Search(sel)))
	} else {
		p.save(name, chromedp.Screenshot(chromedp.CSS(sel)))
	}
}

// save runs capture and writes the PNG it makes as <name>.png into the
// screenshots folder; without one it does nothing.
func (p *tab) save(name string, capture chromedp.Action[[]byte]) {
	p.t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot, dir)
	}
	png, err := chromedp.Run(p.ctx, capture)
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s (%d bytes)", file, len(png))
}
