// One page of the dashboard as a PNG, for `make demo`: opens URL in Debian's headless
// Chromium, waits for the text given (the view's data has arrived), saves the picture.
// Usage: node screenshot.mjs URL OUT.png TEXT
import { chromium } from 'playwright-core';

const [url, out, text] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await page.getByText(text).first().waitFor({ timeout: 20000 });
  await page.screenshot({ path: out, fullPage: true });
} finally {
  await browser.close();
}
