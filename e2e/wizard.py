#!/usr/bin/env python3
"""End-to-end test of the desktop wizard in a real window.

Starts a MariaDB source (binlog) and target, the app under Xvfb through
Debian's WebKitWebDriver (WebDriver), and clicks through the
whole flow: new job, test connections, objects, options, precheck, start, watch
the sync while rows are written to the source, Complete, and the Done page's
verification. Asserts on what the window shows and on the target's rows.
Screenshots of each step go to $FERRY_SHOTS (default target/screenshots/e2e).

Only the Python standard library: WebDriver is plain JSON over HTTP.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
# Serious or critical accessibility violations found on the pages (axe-core).
A11Y = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name):
    for d in ("/usr/sbin", "/usr/bin"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    found = shutil.which(name)
    if not found:
        sys.exit(f"e2e: {name} is missing (./scripts/setup installs it)")
    return found


class Server:
    def __init__(self, work, name, server_id, binlog):
        self.port = free_port()
        d = os.path.join(work, name)
        os.makedirs(d)
        root = ["--user=root"] if os.getuid() == 0 else []
        subprocess.run(
            [binary("mariadb-install-db"), "--no-defaults", f"--datadir={d}/data",
             "--auth-root-authentication-method=normal", "--skip-test-db", *root],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(f"{d}/init.sql", "w") as f:
            f.write("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n"
                    "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n")
        args = [binary("mariadbd"), "--no-defaults", *root, f"--datadir={d}/data", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={d}/sock", f"--pid-file={d}/pid", f"--tmpdir={d}",
                f"--log-error={d}/error.log", f"--init-file={d}/init.sql", f"--server-id={server_id}",
                "--skip-name-resolve", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=2"]
        if binlog:
            args += [f"--log-bin={d}/data/binlog", "--binlog-format=ROW", "--binlog-row-image=FULL"]
        self.args, self.name, self.dir = args, name, d
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            if self.sql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.1)
        sys.exit(f"e2e: the {self.name} server did not start:\n" + open(f"{self.dir}/error.log").read())

    def sql(self, statement, check=True):
        r = subprocess.run(
            [binary("mariadb"), "--no-defaults", "-h127.0.0.1", f"-P{self.port}", "-uroot", "-N", "-e", statement],
            capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: {statement[:120]}: {r.stderr.strip()}")
        return r

    def value(self, statement):
        return self.sql(statement).stdout.strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


class Window:
    """A WebDriver session on the app."""

    def __init__(self, port, app, display):
        self.display = display
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                self.call("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        # WebKitWebDriver may still be starting. The capabilities are what
        # tauri-driver would send: it is not used, because its pooled keep-alive
        # connection to WebKitWebDriver broke under load (a request answered by a
        # closed connection, not retried), while one connection per request does not.
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {"binary": app, "args": []}}}}
        for attempt in range(20):
            try:
                s = self.call("POST", "/session", caps)
                if isinstance(s.get("value"), dict) and "sessionId" in s["value"]:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1 + attempt * 0.5)
        else:
            raise AssertionError("no WebDriver session after 20 attempts")
        self.sid = s["value"]["sessionId"]

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Connection": "close"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def s(self, path, body=None, method="POST"):
        return self.call(method, f"/session/{self.sid}{path}", body)

    def find(self, testid, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = self.s("/element", {"using": "css selector", "value": f'[data-testid="{testid}"]'})["value"]
            if isinstance(v, dict) and ELEMENT in v:
                return v[ELEMENT]
            time.sleep(0.2)
        self.shot("failure")
        raise AssertionError(f"no [data-testid={testid}] within {timeout} s")

    def text(self, testid, timeout=60):
        return self.s(f"/element/{self.find(testid, timeout)}/text", method="GET")["value"]

    def wait_text(self, testid, predicate, what, timeout=120):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.text(testid, timeout=5)
                if predicate(last):
                    return last
            except AssertionError:
                pass
            time.sleep(0.3)
        self.shot("failure")
        raise AssertionError(f"{what}: [data-testid={testid}] shows {last!r}")

    # The keyboard alone: Tab to a control, then the key a user would press.
    def key(self, *keys):
        actions = [a for k in keys for a in ({"type": "keyDown", "value": k}, {"type": "keyUp", "value": k})]
        self.s("/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def focused(self):
        return self.s("/execute/sync", {"script": "const a = document.activeElement; return a && a.getAttribute('data-testid')",
                                        "args": []})["value"]

    def tab_to(self, testid, limit=120):
        """Presses Tab until `testid` has the focus: it must be reachable so."""
        self.find(testid)
        for _ in range(limit):
            if self.focused() == testid:
                return
            self.key(TAB)
        self.shot("failure")
        raise AssertionError(f"Tab never reached [data-testid={testid}] (stuck on {self.focused()!r})")

    def press(self, testid, key=None):
        self.tab_to(testid)
        self.key(key or ENTER)

    def keyboard_type(self, testid, text):
        self.tab_to(testid)
        self.s("/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": CONTROL}, {"type": "keyDown", "value": "a"}, {"type": "keyUp", "value": "a"},
            {"type": "keyUp", "value": CONTROL}, {"type": "keyDown", "value": BACKSPACE}, {"type": "keyUp", "value": BACKSPACE}]}]})
        self.key(*text)

    def gone(self, testid, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = self.s("/element", {"using": "css selector", "value": f'[data-testid="{testid}"]'})["value"]
            if not (isinstance(v, dict) and ELEMENT in v):
                return
            time.sleep(0.2)
        self.shot("failure")
        raise AssertionError(f"{what}: [data-testid={testid}] is still shown")

    def click(self, testid):
        r = self.s(f"/element/{self.find(testid)}/click", {})
        # An element covered by another (a toast, a dialog) is an error, not a click.
        if isinstance(r.get("value"), dict) and "error" in r["value"]:
            self.shot("failure")
            raise AssertionError(f"clicking [data-testid={testid}]: {r['value'].get('message', r['value']['error'])}")

    def select(self, testid, value):
        v = self.s("/element", {"using": "css selector",
                                "value": f'[data-testid="{testid}"] option[value="{value}"]'})["value"]
        self.s(f"/element/{v[ELEMENT]}/click", {})

    def enabled(self, testid):
        return self.s(f"/element/{self.find(testid)}/enabled", method="GET")["value"]

    def request_close(self, *jobs):
        """As the shell tells the page when the window is closed with `jobs` running."""
        self.s("/execute/sync", {"script": "window.__TAURI_INTERNALS__.invoke('plugin:event|emit', "
                                           "{event: 'close-requested', payload: arguments[0]}); return 1;",
                                 "args": [list(jobs)]})

    def wait_enabled(self, testid, what, timeout=60):
        deadline = time.time() + timeout
        while not self.enabled(testid):
            if time.time() > deadline:
                self.shot("failure")
                raise AssertionError(f"{what}: [data-testid={testid}] never enabled")
            time.sleep(0.3)

    def type(self, testid, text, clear=True):
        el = self.find(testid)
        if clear:
            # Select all and delete by keyboard: unlike Element Clear, this fires the
            # input events the page's bindings listen to.
            self.s(f"/element/{el}/value", {"text": "\ue009a\ue009\ue003"})
        if text:
            self.s(f"/element/{el}/value", {"text": text})

    def size(self, width, height):
        """Puts the window at the display's corner with this size (no window manager runs)."""
        self.s("/window/rect", {"x": 0, "y": 0, "width": width, "height": height})
        rect = self.s("/window/rect", method="GET")["value"]
        self.rect = (rect["width"], rect["height"], rect["x"], rect["y"])
        time.sleep(0.5)  # the layout settles

    def shot(self, name):
        # WebKitWebDriver's screenshot hangs without compositing: grab the window's
        # part of the display.
        w, h, x, y = getattr(self, "rect", (1280, 900, 0, 0))
        time.sleep(0.3)  # the last change reaches the screen
        subprocess.run(["import", "-window", "root", "-crop", f"{w}x{h}+{x}+{y}", "+repage",
                        os.path.join(SHOTS, f"{name}.png")],
                       env=dict(os.environ, DISPLAY=self.display), check=False, timeout=30)

    def axe(self, page):
        """Runs axe-core in the window: no serious or critical accessibility violation."""
        if not hasattr(self, "_axe"):
            with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ui", "node_modules", "axe-core", "axe.min.js")) as f:
                self._axe = f.read()
        script = self._axe + """
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ["violations"] }).then(
              (r) => done(r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "))),
              (e) => done(["axe failed: " + e]));
        """
        found = self.s("/execute/async", {"script": script, "args": []})["value"]
        A11Y.extend(f"{page}: {v}" for v in found)

    def in_view(self, testid):
        """Asserts the element is inside the window as the page is now scrolled."""
        script = """
            const el = document.querySelector(`[data-testid="${arguments[0]}"]`);
            if (!el) return "missing";
            const r = el.getBoundingClientRect();
            return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth
              ? "" : `at ${Math.round(r.left)},${Math.round(r.top)}..${Math.round(r.right)},${Math.round(r.bottom)} in ${window.innerWidth}x${window.innerHeight}`;
        """
        where = self.s("/execute/sync", {"script": script, "args": [testid]})["value"]
        assert where == "", f"{testid} is not in view: {where}"

    def scroll_bottom(self):
        self.s("/execute/sync", {"script": "window.scrollTo(0, document.body.scrollHeight)", "args": []})
        time.sleep(0.3)

    def close(self):
        self.s("", method="DELETE")


def fill_servers(w, source, target):
    """Types both servers' address and user on the Connect page."""
    for side, server in (("source", source), ("target", target)):
        w.type(f"{side}-host", "127.0.0.1")
        w.type(f"{side}-port", str(server.port))
        w.type(f"{side}-user", "root")


def acknowledge(w):
    """Ticks the warnings' checkbox unless it is ticked already (warnings the job
    acknowledged before, unchanged, are remembered)."""
    if not w.s(f"/element/{w.find('ack-warnings')}/selected", method="GET")["value"]:
        w.click("ack-warnings")


def start_after_precheck(w, what, on_report=lambda: None):
    """Waits for the precheck, which must pass (warnings acknowledged), and starts."""
    summary = w.wait_text("precheck-summary", lambda t: "failing" in t, what, timeout=120)
    on_report()
    assert " 0 failing" in summary, summary
    if "0 warnings" not in summary:
        acknowledge(w)
    w.click("start")


def arrives(server, query, what, timeout=120):
    """Waits until `query` on `server` answers 1."""
    deadline = time.time() + timeout
    while server.value(query) != "1":
        assert time.time() < deadline, f"{what} never arrived"
        time.sleep(0.3)


def main():
    app = sys.argv[1]
    work = tempfile.mkdtemp(prefix="ferry-e2e-")
    procs = []
    source = target = east = None
    try:
        source = Server(work, "source", 1, True)
        # The target writes a binlog: the keyboard job keeps a way back, which reads it.
        target = Server(work, "target", 2, True)
        east = Server(work, "east", 3, True)
        source.sql("CREATE DATABASE shop; USE shop;"
                   "CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(10,2), note VARCHAR(40));"
                   "INSERT INTO orders SELECT seq, seq * 1.5, CONCAT('order ', seq) FROM seq_1_to_5000;"
                   "CREATE TABLE log (msg VARCHAR(20));"
                   "INSERT INTO log VALUES ('a'), ('a'), ('b');"
                   "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 1000;"
                   "CREATE VIEW order_notes AS SELECT id, note FROM orders;")

        display = f":{200 + os.getpid() % 500}"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(xvfb)
        time.sleep(1)
        home = os.path.join(work, "home")
        os.makedirs(home)
        env = dict(os.environ, DISPLAY=display, NO_AT_BRIDGE="1", WEBKIT_DISABLE_COMPOSITING_MODE="1",
                   HOME=home, XDG_CONFIG_HOME=os.path.join(home, "config"), FERRY_KEYRING="keyutils")
        wd_port = free_port()
        # TAURI_WEBVIEW_AUTOMATION lets the app's webview accept the driver.
        td = subprocess.Popen([binary("WebKitWebDriver"), f"--port={wd_port}", "--host=127.0.0.1"],
                              env=dict(env, TAURI_AUTOMATION="true", TAURI_WEBVIEW_AUTOMATION="true"),
                              stdout=open(os.path.join(work, "webdriver.log"), "w"), stderr=subprocess.STDOUT)
        procs.append(td)
        w = Window(wd_port, app, display)
        w.size(1280, 800)
        assert w.rect[:2] == (1280, 800), f"the window is {w.rect}"

        # Jobs → New job → Connect.
        w.find("no-jobs")
        w.shot("1-jobs")
        w.axe("jobs")
        w.click("new-job")
        w.type("job-name", "shop-e2e")
        fill_servers(w, source, target)
        # A bad port is reported next to the field, and nothing is saved.
        w.type("target-port", "70000")
        w.click("save")
        assert "65535" in w.text("error-target-port")
        w.type("target-port", str(target.port))
        # A wrong password and an unknown CA file: the engine's exact error, next to that server's form.
        w.type("source-password", "wrong")
        w.click("source-test")
        refused = w.wait_text("source-failure", lambda t: len(t) > 0, "wrong password")
        assert "refused the login" in refused, refused
        # The fix is phrased for the window: no commands, environment variables or markup.
        assert "Connect page" in refused and not any(x in refused for x in ("ferry ", "FERRY_", "⟦")), refused
        # Continuing with the wrong password stays on Connect, the refusal under the password.
        w.click("save")
        assert "refused the login" in w.wait_text("source-password-error", lambda t: len(t) > 0, "the refusal beside the field")
        assert "could not be reached" in w.text("save-error")
        w.find("source-form")
        w.type("source-password", "")
        w.select("target-tls", "verify-ca")
        w.type("target-ca", "/nonexistent/ca.pem")
        w.click("target-test")
        assert "/nonexistent/ca.pem" in w.wait_text("target-failure", lambda t: len(t) > 0, "unknown CA file")
        w.shot("2-connect-errors")
        w.select("target-tls", "preferred")
        w.click("source-test")
        w.click("target-test")
        assert "MariaDB" in w.wait_text("source-facts", lambda t: "server_id 1" in t, "source facts")
        assert "server_id 2" in w.wait_text("target-facts", lambda t: "server_id" in t, "target facts")
        w.shot("2-connect")
        w.axe("connect")
        w.click("save")

        # Mode: full copy + incremental sync, the default.
        assert w.s(f"/element/{w.find('mode-all')}/selected", method="GET")["value"] is True
        w.shot("2b-mode")
        w.axe("mode")
        w.click("mode-next")

        # Objects: only the shop schema, previewed by the engine.
        w.find("preview-table")
        w.click("scope-custom")  # every table starts checked: the rule becomes shop.*
        assert w.s(f"/element/{w.find('schema-shop')}/selected", method="GET")["value"] is True
        # Views come with their schema; one is unticked and must stay off the target.
        w.click("object-view-shop.order_notes")
        w.wait_text("preview-objects", lambda t: "left out" in t, "the unticked view")
        # Leaving out a table says what goes with it (the view built on it), with Add back.
        w.click("table-shop.orders")
        cost = w.wait_text("cost-shop.orders", lambda t: "big_orders" in t, "what leaving orders out takes with it")
        assert "view shop.big_orders" in cost, cost
        w.shot("3b-objects-left-out")
        w.axe("objects, a table left out")
        w.click("add-back-shop.orders")
        w.gone("left-out", "the note after Add back")
        w.shot("3-objects")
        w.axe("objects")
        w.click("objects-next")

        # Options → Precheck, by Enter in a field: Enter continues a wizard step.
        w.find("meta-schema")
        w.axe("options")
        w.s(f"/element/{w.find('meta-schema')}/value", {"text": "\ue007"})
        start_after_precheck(w, "precheck", lambda: (w.shot("4-precheck"), w.axe("precheck")))

        # Progress: the copy, then the sync; rows written now must arrive.
        w.wait_text("sync-state", lambda t: "synced" in t, "the sync", timeout=180)
        source.sql("USE shop; INSERT INTO orders VALUES (9001, 1.00, 'during sync');"
                   "UPDATE orders SET note = 'changed' WHERE id <= 10; DELETE FROM orders WHERE id = 20;"
                   "INSERT INTO log VALUES ('c');")
        arrives(target, "SELECT COUNT(*) FROM shop.orders WHERE id = 9001", "row 9001")
        w.wait_text("sync-state", lambda t: "synced" in t, "the sync after writes", timeout=120)
        w.wait_text("table-changes-shop.orders", lambda t: t == "12", "the orders table's changes")
        # The continuous verification: everything verified; a row changed on the
        # target behind the job's back shows as a difference with its key, and
        # Repair copies its range again from the source.
        w.wait_text("verified-percent", lambda t: t == "verified 100 %", "the continuous verification", timeout=120)
        w.shot("5-progress")
        w.axe("run")
        target.sql("UPDATE shop.orders SET total = total + 1 WHERE id = 7")
        w.wait_text("differences", lambda t: t == "1 difference", "the tampered row", timeout=60)
        row = w.text("difference-orders-0")
        assert "7 (differs)" in row, row
        w.shot("5v-difference")
        w.axe("run with a difference")
        w.click("repair-orders-0")
        w.wait_text("differences", lambda t: t == "0 differences", "the repaired range", timeout=60)
        w.wait_text("verified-percent", lambda t: t == "verified 100 %", "the verification after the repair", timeout=60)
        query = "SELECT total FROM shop.orders WHERE id = 7"
        assert target.value(query) == source.value(query), (target.value(query), source.value(query))

        # A DDL the target refuses (someone renamed the column there): the Run page
        # shows the statement and the target's answer; Replace runs an edited
        # statement instead and the job resumes without the terminal.
        target.sql("ALTER TABLE shop.orders CHANGE note note_t VARCHAR(40)")
        source.sql("ALTER TABLE shop.orders MODIFY note VARCHAR(60)")
        assert "MODIFY note" in w.wait_text("ddl-statement", lambda t: len(t) > 0, "the refused DDL", timeout=120)
        assert "note" in w.text("ddl-error")
        assert w.text("sync-state") == "stopped by an error"
        # The banner at the top says a decision waits, wherever the page is scrolled.
        w.scroll_bottom()
        w.in_view("banner")
        assert "waits for your decision" in w.text("banner")
        assert w.find("step-done") and w.s(f"/element/{w.find('step-done')}/attribute/data-state", method="GET")["value"] == "blocked"
        w.shot("5b-ddl-refused")
        w.axe("ddl decision")
        # Failed is not paused: the job list says a DDL waits, and its Resume goes
        # through a precheck that names the statement, then back to the decision.
        w.click("progress-close")
        state = w.wait_text("state-shop-e2e", lambda t: t.startswith("stopped"), "the failed job's state")
        assert state == "stopped: a DDL waits for a decision", state
        assert "MODIFY note" in w.text("detail-shop-e2e")
        # The list offers the decision itself (seen here, taken below from the Run page).
        w.click("decide-shop-e2e")
        assert "MODIFY note" in w.wait_text("ddl-statement", lambda t: len(t) > 0, "the decision from the list")
        w.axe("decide dialog")
        w.click("decide-dialog-cancel")
        w.click("run-shop-e2e")
        w.wait_text("precheck-summary", lambda t: "failing" in t, "the resume's precheck", timeout=120)
        assert w.s(f"/element/{w.find('check-target.pending_ddl')}/attribute/data-status", method="GET")["value"] == "warn"
        assert "MODIFY note" in w.text("check-target.pending_ddl")
        # A new warning (the waiting DDL): the earlier acknowledgement does not cover it.
        assert not w.s(f"/element/{w.find('ack-warnings')}/selected", method="GET")["value"]
        w.click("ack-warnings")
        w.click("start")
        assert "MODIFY note" in w.wait_text("ddl-statement", lambda t: len(t) > 0, "the refused DDL again", timeout=120)
        w.click("ddl-replace")
        w.type("ddl-replacement", "ALTER TABLE orders CHANGE note_t note VARCHAR(60)")
        w.click("ddl-replace-run")
        source.sql("INSERT INTO shop.orders VALUES (9002, 2.00, REPEAT('x', 50))")
        deadline = time.time() + 120
        q = "SELECT LENGTH(note) FROM shop.orders WHERE id = 9002"
        # Until the replacement has run the column is still note_t there.
        while time.time() < deadline and target.sql(q, check=False).stdout.strip() != "50":
            time.sleep(0.3)
        assert target.value(q) == "50", "the row after the DDL never arrived"
        w.wait_text("sync-state", lambda t: "synced" in t, "the sync after the DDL", timeout=120)

        # Pause: the job list calls it paused (not failed), and Resume from there
        # takes the sync up again.
        w.click("pause")
        assert "Pause requested" in w.wait_text("toasts", lambda t: "Pause" in t, "the pause toast")
        w.find("resume", timeout=120)
        assert w.text("sync-state") == "paused"
        w.click("done")
        w.click("back-to-jobs")
        assert w.wait_text("state-shop-e2e", lambda t: t == "paused", "the paused job's state") == "paused"
        assert "chip-idle" in w.s(f"/element/{w.find('state-shop-e2e')}/attribute/class", method="GET")["value"]
        w.click("run-shop-e2e")
        start_after_precheck(w, "the resume's precheck")
        w.wait_text("sync-state", lambda t: "synced" in t, "the resumed sync", timeout=180)
        source.sql("INSERT INTO shop.orders VALUES (9003, 3.00, 'after the pause')")
        arrives(target, "SELECT COUNT(*) FROM shop.orders WHERE id = 9003", "row 9003")
        w.wait_text("sync-state", lambda t: "synced" in t, "the sync after the resume", timeout=120)
        assert w.wait_text("table-changes-shop.orders", lambda t: t not in ("", "0"), "per-table changes") != "0"

        # Closing the window while the job runs asks first (the shell holds the close
        # and tells the page, as the page is told here); "keep migrating in the
        # background" hands the job to a `ferry run` of its own and the app exits.
        w.request_close("shop-e2e")
        dialog = w.text("close-dialog")
        assert "Keep migrating in the background" in dialog and "Pause and quit" in dialog and "Cancel" in dialog, dialog
        w.shot("5f-close-dialog")
        w.axe("close dialog")
        w.click("close-dialog-confirm")
        deadline = time.time() + 120
        background = ""
        while time.time() < deadline and not background:
            background = subprocess.run(["pgrep", "-f", "ferry run shop-e2e"], capture_output=True, text=True).stdout.strip()
            time.sleep(0.3)
        assert background, "no background run of the job"
        # The window is gone; the job goes on without it.
        source.sql("INSERT INTO shop.orders VALUES (9004, 4.00, 'in the background')")
        arrives(target, "SELECT COUNT(*) FROM shop.orders WHERE id = 9004", "row 9004 written while the app was closed")
        # Reopened, the app finds the job running and follows it (the driver takes
        # one session at a time: the ended app's goes first).
        try:
            w.close()
        except (ConnectionError, TimeoutError, urllib.error.URLError):
            pass
        time.sleep(2)
        w = Window(wd_port, app, display)
        w.size(1280, 800)
        w.wait_text("state-shop-e2e", lambda t: t == "running", "the background job's state")
        w.click("show-shop-e2e")
        assert "another process" in w.text("elsewhere")
        w.wait_text("sync-state", lambda t: "synced" in t, "the followed sync", timeout=120)
        # The log kept on the target has the background run's start.
        w.wait_text("log", lambda t: "run resumed (phase sync)" in t, "the background run in the job's log", timeout=30)
        w.shot("5g-followed")
        # Its process killed, the job reads interrupted; Resume runs it here again.
        subprocess.run(["pkill", "-KILL", "-f", "ferry run shop-e2e"], check=False)
        w.click("progress-close")
        state = w.wait_text("state-shop-e2e", lambda t: t.startswith("interrupted"), "the killed job's state", timeout=60)
        assert "chip-fail" in w.s(f"/element/{w.find('state-shop-e2e')}/attribute/class", method="GET")["value"], state
        w.click("run-shop-e2e")
        start_after_precheck(w, "the interrupted job's precheck")
        w.wait_text("sync-state", lambda t: "synced" in t, "the sync after the interruption", timeout=180)
        # The source goes away: the page says so, nothing reads synced, Complete waits.
        source.stop()
        health = w.wait_text("health", lambda t: t.startswith("retrying"), "the health while the source is down", timeout=60)
        assert "synced" not in w.text("sync-state"), w.text("sync-state")
        assert w.text("table-state-shop.orders") == "no contact", w.text("table-state-shop.orders")
        assert not w.enabled("complete"), "Complete enabled while the source is down"
        assert w.text("lag") == "unknown", w.text("lag")
        w.shot("5h-source-down")
        source.start()
        w.wait_text("sync-state", lambda t: "synced" in t, "the sync after the source came back", timeout=180)
        # The state and the actions stay in view however far the page scrolls, at
        # both window sizes.
        for width, height in ((1280, 800), (1024, 700)):
            w.size(width, height)
            w.scroll_bottom()
            for testid in ("run-status", "head-lag", "pause", "complete", "abort"):
                w.in_view(testid)
        w.shot("5d-progress-1024x700")
        w.axe("run at 1024x700")
        w.size(1280, 800)
        w.wait_enabled("complete", "Complete")
        # Abort asks first; cancelled, nothing happens.
        w.click("abort")
        w.find("abort-dialog-confirm")
        w.axe("abort dialog")
        w.click("abort-dialog-cancel")
        w.gone("abort-dialog-confirm", "the cancelled abort dialog")
        # The cutover checklist: confirm waits until the writes are said to be stopped.
        w.click("complete")
        w.find("cutover-confirm")
        assert not w.enabled("cutover-confirm"), "the cutover started without the checklist"
        w.click("cutover-writes-stopped")
        w.shot("5c-cutover")
        w.axe("cutover dialog")
        w.click("cutover-confirm")

        # Done: verified equal.
        w.find("done", timeout=180)
        w.click("done")
        result = w.wait_text("verify-result", lambda t: "Verified" in t or "differ" in t, "verification", timeout=60)
        w.shot("6-done")
        w.axe("done")
        assert "0 differences" in result, result
        assert "Completed" in w.text("sync-end")
        # The whole job across its runs (the DDL stop, the resume, the background run): every
        # row copied, every row change and the replaced DDL counted once.
        assert w.wait_text("job-rows", lambda t: "5,003" in t, "rows copied by the job").startswith("5,003")
        changes = w.text("job-changes")
        assert changes == "16 row changes · 1 DDL statement ran on the target", changes
        # Every run of the job: the one the DDL stopped, the resumed ones, the one
        # whose process was killed, the one that completed.
        runs = w.text("job-runs")
        assert "interrupted" in runs and "stopped: replicate.ddl_failed" in runs and "completed" in runs, runs
        w.click("job-ddl")
        ddl = w.text("job-ddl")
        assert "refused" in ddl and "replaced by decision" in ddl, ddl
        # What to do before the application moves: the view's definer and the
        # accounts Ferry does not migrate.
        todo = w.text("checklist")
        assert "Accounts and grants are not migrated" in todo and "definers were rewritten" in todo, todo
        # Export: the report lands in the downloads folder, and the page says where.
        w.click("export-json")
        saved = w.wait_text("exported", lambda t: t.startswith("Saved to "), "the JSON export")
        path = saved[len("Saved to "):]
        assert path == os.path.join(home, "Downloads", "shop-e2e-report.json"), path
        with open(path) as f:
            exported = json.load(f)
        assert exported["job"] == "shop-e2e" and exported["verification"]["equal"] is True, exported
        assert exported["rows_copied"] == 5003 and exported["row_changes"] == 16, exported
        w.click("export-html")
        deadline = time.time() + 30
        page = os.path.join(home, "Downloads", "shop-e2e-report.html")
        while not os.path.exists(page) and time.time() < deadline:
            time.sleep(0.2)
        with open(page) as f:
            html = f.read()
        assert html.startswith("<!DOCTYPE html>") and "shop-e2e" in html and "<script" not in html, html[:500]
        # A write to the source after the cutover (an application server not yet
        # switched): the page says so, and applying it asks first.
        source.sql("INSERT INTO shop.orders VALUES (9900, 99.00, 'after the cutover')")
        assert "1 row change " in w.wait_text("late-writes", lambda t: "row change" in t, "the write after the cutover", timeout=60)
        w.click("apply-late")
        w.find("apply-late-dialog-confirm")
        w.axe("apply late writes dialog")
        w.click("apply-late-dialog-confirm")
        w.wait_text("applied-late", lambda t: "every table equal" in t, "the late write applied and verified", timeout=180)
        views = target.value("SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'shop'")
        assert views == "big_orders", f"views on the target: {views}"
        for table, order in (("orders", "id"), ("log", "msg")):
            q = f"SELECT * FROM shop.{table} ORDER BY {order}"
            assert source.value(q) == target.value(q), f"{table} differs"

        # Back on the list, Delete asks first; cancelling keeps the job.
        w.click("back-to-jobs")
        w.click("delete-shop-e2e")
        assert "target keeps its tables" in w.text("delete-dialog")
        w.axe("delete dialog")
        w.click("delete-dialog-cancel")
        w.find("job-shop-e2e")
        w.wait_text("state-shop-e2e", lambda t: t == "completed", "the job list's state")
        w.shot("8-jobs")
        w.axe("job list")
        # A completed job opens read-only.
        w.click("open-shop-e2e")
        assert "completed" in w.text("readonly-reason")
        w.axe("job view")
        w.click("view-back")
        # The report opens again from the list, without a run: the whole job.
        w.click("report-shop-e2e")
        assert w.wait_text("job-rows", lambda t: "5,003" in t, "the reopened report").startswith("5,003")
        assert "0 differences" in w.text("verify-result")
        w.axe("report from the list")
        w.click("back-to-jobs")

        # A job handed to a DM cluster: `ferry serve` speaks DM's OpenAPI; the
        # wizard creates the source and task there, and follows the task.
        cli = os.path.join(os.path.dirname(os.path.abspath(app)), "ferry")
        cluster_home = os.path.join(work, "cluster")
        os.makedirs(cluster_home)
        api_port = free_port()
        serve = subprocess.Popen([cli, "serve", "--listen", f"127.0.0.1:{api_port}"],
                                 env=dict(os.environ, HOME=cluster_home, XDG_CONFIG_HOME=os.path.join(cluster_home, "config"),
                                          FERRY_KEYRING="keyutils"),
                                 stdout=subprocess.PIPE, stderr=open(os.path.join(work, "serve.log"), "w"))
        procs.append(serve)
        assert "DM OpenAPI" in serve.stdout.readline().decode(), "ferry serve did not start"
        w.click("new-job")
        w.type("job-name", "shop-dm")
        fill_servers(w, source, target)
        w.click("save")
        w.click("mode-next")
        w.find("preview-table")
        w.click("scope-custom")
        w.click("add-route")
        w.type("route-from-0", "shop.*")
        w.type("route-to-0", "shop_dm.*")
        w.wait_text("preview-table", lambda t: "shop_dm.orders" in t, "the routed preview")
        w.click("objects-next")
        w.click("run-on-cluster")
        w.type("dm-master", f"http://127.0.0.1:{api_port}")
        w.click("options-next")
        start_after_precheck(w, "the cluster job's precheck")
        assert str(api_port) in w.text("on-cluster")
        w.wait_text("sync-state", lambda t: "synced" in t, "the cluster's sync", timeout=180)
        source.sql("INSERT INTO shop.orders VALUES (9100, 1.00, 'via dm')")
        arrives(target, "SELECT COUNT(*) FROM shop_dm.orders WHERE id = 9100", "row 9100 on the cluster's target")
        w.wait_text("sync-state", lambda t: "synced" in t, "the cluster's sync after a write", timeout=60)
        w.shot("5e-on-cluster")
        w.axe("run on a cluster")
        assert w.text("pause") == "Stop on the cluster"
        w.click("pause")
        w.wait_text("sync-state", lambda t: t == "paused", "the task stopped on the cluster", timeout=120)
        q = "SELECT id, total, note FROM {}.orders ORDER BY id"
        assert source.value(q.format("shop")) == target.value(q.format("shop_dm")), "shop_dm.orders differs"
        w.click("done")
        w.click("back-to-jobs")

        # A job with two sources whose orders merge into one target table, made,
        # tested and run from the wizard; the merged rows are the union's.
        table = "CREATE TABLE sales.orders (id INT PRIMARY KEY, total DECIMAL(10,2), note VARCHAR(40))"
        source.sql(f"CREATE DATABASE sales; USE sales; {table}; INSERT INTO sales.orders SELECT seq, seq, 'west' FROM seq_1_to_3000;")
        # The second source names its schema differently: its own rules route it.
        east.sql(f"CREATE DATABASE sales_east; USE sales_east; {table.replace('sales.', '')};"
                 "INSERT INTO orders SELECT 100000 + seq, seq, 'east' FROM seq_1_to_2000;")
        w.click("new-job")
        w.type("job-name", "merge-e2e")
        fill_servers(w, source, target)
        w.click("add-source")
        w.type("shard-0-name", "east")
        w.type("shard-0-host", "127.0.0.1")
        w.type("shard-0-port", str(east.port))
        w.type("shard-0-user", "root")
        w.click("shard-0-test")
        assert "server_id 3" in w.wait_text("shard-0-facts", lambda t: "server_id" in t, "the second source's facts")
        w.shot("2c-connect-two-sources")
        w.axe("connect, two sources")
        w.click("save")
        w.click("mode-full")
        w.click("mode-next")
        w.find("preview-table")
        w.click("scope-custom")
        w.click("schema-shop")  # off: only sales
        # East has no schema sales: the error names it, and its own rules route it.
        w.wait_text("objects-error", lambda t: "source “east”" in t and "its own tables" in t, "the second source's rules error")
        w.click("shard-0-rules-own")
        w.type("shard-0-include", "sales_east.*")
        w.click("shard-0-add-route")
        w.type("shard-0-route-from-0", "sales_east.*")
        w.type("shard-0-route-to-0", "sales.*")
        w.wait_text("preview-table", lambda t: "sales.orders" in t and "shop.orders" not in t, "only sales selected")
        # The merged table, from both sources, and the shard checks from the Objects page.
        assert "east: sales_east.orders" in w.wait_text("merged-sales.orders", lambda t: "east" in t, "the merged preview")
        w.click("check-shards")
        w.wait_text("shard-check-shards.keys", lambda t: "✔" in t, "the shards' key ranges check")
        w.shot("3c-objects-merged")
        w.axe("objects, merged tables")
        w.click("objects-next")
        w.click("options-next")
        start_after_precheck(w, "the two-source job's precheck")
        w.wait_text("phase", lambda t: "completed" in t, "the two-source copy", timeout=180)
        union = "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('#', id, total, note))) FROM sales.orders"
        got = " ".join(target.value(union).split())
        a = (int(x) for x in source.value(union).split())
        b = (int(x) for x in east.value(union.replace("sales.", "sales_east.")).split())
        want = " ".join(str(x + y) for x, y in zip(a, b))
        assert got == want, f"the merged sales.orders is {got}, the union of the sources is {want}"
        w.shot("5f-two-sources-done")
        w.click("done")
        w.click("back-to-jobs")
        assert "127.0.0.1:%d" % east.port in w.text("route-merge-e2e")

        # The whole flow by keyboard alone: every control reached by Tab, worked by
        # Enter, Space or the arrows.
        source.sql("CREATE DATABASE kb; USE kb; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10));"
                   "INSERT INTO t SELECT seq, CONCAT('k', seq) FROM seq_1_to_500;")
        w.press("new-job")
        w.keyboard_type("job-name", "kb-e2e")
        for side, server in (("source", source), ("target", target)):
            w.keyboard_type(f"{side}-host", "127.0.0.1")
            w.keyboard_type(f"{side}-port", str(server.port))
            w.keyboard_type(f"{side}-user", "root")
        w.press("save")
        w.tab_to("mode-all")
        w.key(ARROW_DOWN)  # the next mode: full copy only
        assert w.s(f"/element/{w.find('mode-full')}/selected", method="GET")["value"] is True
        w.key(ARROW_UP)  # and back: copy and sync, to reach the cutover by keyboard
        assert w.s(f"/element/{w.find('mode-all')}/selected", method="GET")["value"] is True
        w.press("mode-next")
        w.find("preview-table")
        w.tab_to("scope-all")
        w.key(ARROW_DOWN)  # Customize
        for schema in ("sales", "shop"):
            w.press(f"schema-{schema}", SPACE)
        w.wait_text("preview-table", lambda t: "kb.t" in t and "shop.orders" not in t and "sales." not in t, "only kb selected")
        w.press("objects-next")
        # A way back after the cutover: typing picks the choice, as in any list.
        w.tab_to("reverse")
        w.key("u")
        chosen = w.s(f"/element/{w.find('reverse')}/property/value", method="GET")["value"]
        assert chosen == "until-released", chosen
        w.press("options-next")
        summary = w.wait_text("precheck-summary", lambda t: "failing" in t, "the keyboard job's precheck", timeout=120)
        assert " 0 failing" in summary, summary
        if "0 warnings" not in summary:
            w.press("ack-warnings", SPACE)
        w.press("start")
        w.wait_text("sync-state", lambda t: "synced" in t, "the keyboard job's sync", timeout=180)
        source.sql("INSERT INTO kb.t VALUES (501, 'k501')")
        arrives(target, "SELECT COUNT(*) FROM kb.t WHERE id = 501", "row 501 of the keyboard job")
        w.wait_enabled("complete", "Complete for the keyboard job")
        # The cutover dialog by keyboard: its checklist ticked with Space, confirmed with Enter.
        w.press("complete")
        w.press("cutover-writes-stopped", SPACE)
        w.press("cutover-confirm")
        # Cut over with a way back: Done opens the report while the reverse sync goes on.
        w.find("wayback", timeout=180)
        q = "SELECT * FROM kb.t ORDER BY id"
        assert source.value(q) == target.value(q), "kb.t differs"
        w.press("done")
        w.wait_text("wayback-state", lambda t: "reverse sync syncing" in t, "the way back on the Done page")
        # The application writes to the target; the reverse sync takes it to the source.
        target.sql("INSERT INTO kb.t VALUES (502, 'k502'); UPDATE kb.t SET v = 'back' WHERE id = 1; DELETE FROM kb.t WHERE id = 2")
        arrives(source, "SELECT COUNT(*) FROM kb.t WHERE id = 502", "the target's row 502 on the source")
        target.sql("ALTER TABLE kb.t ADD COLUMN w INT NULL; UPDATE kb.t SET w = 7 WHERE id = 3")
        w.shot("6r-way-back")
        w.axe("done, with a way back")
        # Roll back from the Done page, by keyboard: the application returns to the source.
        w.press("rollback")
        w.press("rollback-dialog-confirm")
        ended = w.wait_text("wayback-ended", lambda t: "Rolled back" in t, "the roll back", timeout=180)
        assert "has every change the target had" in ended, ended
        assert source.value(q) == target.value(q), "kb.t differs after the roll back"
        assert source.value("CHECKSUM TABLE kb.t").split()[-1] == target.value("CHECKSUM TABLE kb.t").split()[-1], "kb.t's checksums differ"
        assert source.value("SELECT v, w FROM kb.t WHERE id = 3 UNION ALL SELECT COUNT(*), 0 FROM kb.t WHERE id = 2").split() == ["k3", "7", "0", "0"]
        w.shot("6s-rolled-back")
        w.press("back-to-jobs")
        w.find("job-kb-e2e")

        # The demo: two sandbox servers with sample data and a saved job, ready to run.
        w.click("demo")
        name = w.s(f"/element/{w.find('job-name', timeout=120)}/property/value", method="GET")["value"]
        assert name == "demo", name
        w.click("source-test")
        w.click("target-test")
        w.wait_text("source-facts", lambda t: "server_id 1" in t and "binlog ROW" in t, "demo source")
        w.wait_text("target-facts", lambda t: "server_id 2" in t, "demo target")
        w.shot("7-demo")
        # The demo raises no warning of its own: a newcomer's first precheck is clean.
        w.click("save")
        w.click("mode-next")
        w.click("objects-next")
        w.click("options-next")
        summary = w.wait_text("precheck-summary", lambda t: "failing" in t, "the demo's precheck", timeout=120)
        assert "0 warnings, 0 failing" in summary, summary
        w.close()

        # Dark: WebKitGTK follows GTK's dark theme; the pages and dialogs again, by axe.
        dark_port = free_port()
        procs.append(subprocess.Popen([binary("WebKitWebDriver"), f"--port={dark_port}", "--host=127.0.0.1"],
                                      env=dict(env, GTK_THEME="Adwaita:dark", TAURI_AUTOMATION="true",
                                               TAURI_WEBVIEW_AUTOMATION="true"),
                                      stdout=open(os.path.join(work, "webdriver-dark.log"), "w"), stderr=subprocess.STDOUT))
        w = Window(dark_port, app, display)
        w.size(1280, 800)
        w.find("job-shop-e2e")
        dark = w.s("/execute/sync", {"script": "return matchMedia('(prefers-color-scheme: dark)').matches", "args": []})["value"]
        assert dark is True, "the app did not open in the dark theme"
        w.shot("9-jobs-dark")
        w.axe("jobs, dark")
        w.click("delete-merge-e2e")
        w.axe("delete dialog, dark")
        w.click("delete-dialog-cancel")
        w.click("report-shop-e2e")
        w.wait_text("verify-result", lambda t: "0 differences" in t, "the report, dark")
        w.axe("report, dark")
        w.click("back-to-jobs")
        # A whole job in the dark: every step, the Run page, the cutover and abort dialogs, Done.
        source.sql("CREATE DATABASE dk; USE dk; CREATE TABLE t (id INT PRIMARY KEY, v INT);"
                   "INSERT INTO t SELECT seq, seq FROM seq_1_to_300;")
        w.click("new-job")
        w.type("job-name", "dark-e2e")
        fill_servers(w, source, target)
        w.click("add-source")
        w.shot("9-connect-dark")
        w.axe("connect, dark")
        w.click("shard-0-remove")
        w.click("save")
        w.find("mode-all")
        w.axe("mode, dark")
        w.click("mode-next")
        w.find("preview-table")
        w.click("scope-custom")
        for schema in ("kb", "sales", "shop"):
            w.click(f"schema-{schema}")
        w.wait_text("preview-table", lambda t: "dk.t" in t and "kb.t" not in t and "shop." not in t, "only dk, dark")
        w.axe("objects, dark")
        w.click("objects-next")
        w.find("meta-schema")
        w.axe("options, dark")
        w.click("options-next")
        start_after_precheck(w, "the dark job's precheck", lambda: w.axe("precheck, dark"))
        w.wait_text("sync-state", lambda t: "synced" in t, "the dark job's sync", timeout=180)
        w.axe("run, dark")
        w.request_close("dark-e2e")
        w.find("close-dialog-confirm")
        w.axe("close dialog, dark")
        w.click("close-dialog-cancel")
        w.gone("close-dialog-confirm", "the cancelled close dialog")
        w.click("complete")
        w.find("cutover-lag")
        w.axe("cutover dialog, dark")
        w.click("cutover-cancel")
        # A refused DDL, decided from the job list's dialog: Skip resumes the job.
        target.sql("ALTER TABLE dk.t CHANGE v v_t INT")
        source.sql("ALTER TABLE dk.t MODIFY v BIGINT")
        w.wait_text("ddl-statement", lambda t: "MODIFY v" in t, "the dark job's refused DDL", timeout=120)
        w.click("progress-close")
        w.wait_text("state-dark-e2e", lambda t: t.startswith("stopped"), "the dark job's stopped state")
        w.click("decide-dark-e2e")
        w.wait_text("ddl-statement", lambda t: "MODIFY v" in t, "the decision from the list, dark")
        w.axe("decide dialog, dark")
        w.click("ddl-replace")
        w.type("ddl-replacement", "ALTER TABLE t CHANGE v_t v BIGINT")
        w.click("ddl-replace-run")
        w.wait_text("sync-state", lambda t: "synced" in t, "the dark job's sync after the replacement", timeout=180)
        w.click("abort")
        w.find("abort-dialog-confirm")
        w.axe("abort dialog, dark")
        w.click("abort-dialog-cancel")
        w.wait_enabled("complete", "Complete for the dark job")
        w.click("complete")
        w.click("cutover-writes-stopped")
        w.click("cutover-confirm")
        w.find("done", timeout=180)
        w.click("done")
        w.wait_text("verify-result", lambda t: "0 differences" in t, "the dark job's verification", timeout=60)
        source.sql("INSERT INTO dk.t VALUES (301, 301)")
        w.wait_text("late-writes", lambda t: "row change" in t, "the dark job's write after the cutover", timeout=60)
        w.click("apply-late")
        w.find("apply-late-dialog-confirm")
        w.axe("apply late writes dialog, dark")
        w.click("apply-late-dialog-cancel")
        w.axe("done, dark")
        w.close()
        assert not A11Y, "accessibility violations (axe-core, serious or critical):\n" + "\n".join(A11Y)
        print("e2e: the wizard migrated shop (copy + sync + complete), verified 0 differences; screenshots in", SHOTS)
    except BaseException:
        log = os.path.join(work, "webdriver.log")
        if os.path.exists(log):
            print("e2e: WebKitWebDriver log (last lines):", file=sys.stderr)
            print("".join(open(log).readlines()[-30:]), file=sys.stderr)
        raise
    finally:
        subprocess.run(["pkill", "-KILL", "-f", "ferry run shop-e2e"], check=False)
        for p in procs:
            p.terminate()
        for s in (source, target, east):
            if s:
                s.stop()
        shutil.rmtree(work, ignore_errors=True)


TAB, ENTER, SPACE, CONTROL, BACKSPACE, ARROW_UP, ARROW_DOWN = "\ue004", "\ue007", " ", "\ue009", "\ue003", "\ue013", "\ue015"
SHOTS = os.environ.get("FERRY_SHOTS", "target/screenshots/e2e")
os.makedirs(SHOTS, exist_ok=True)
if __name__ == "__main__":
    try:
        main()
    except (ConnectionError, TimeoutError, urllib.error.URLError) as e:
        # The browser driver itself went away (WebKitWebDriver crashes now and then
        # under Xvfb): not a finding about Ferry. Exit 75 so the caller may retry.
        print(f"e2e: the WebDriver connection failed: {e!r}", file=sys.stderr)
        sys.exit(75)
