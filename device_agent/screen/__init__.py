"""The officer's screen: the phone UI a full-screen WebView shows, served on loopback by the
running agent (`tabard agent --state DIR ui`). docs/officer.md says how a force wraps it."""
