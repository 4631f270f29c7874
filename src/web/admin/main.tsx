import { render } from "preact";
import { AuthGate, Shell, Toasts, useHashTab, useToasts } from "../lib/ui";
import { Audit } from "./audit";
import { Minting } from "./minting";
import { Overview } from "./overview";
import { Programs } from "./programs";
import { Reconcile } from "./reconcile";
import { RewardsQueue } from "./rewards-queue";
import { Settlements } from "./settlements";
import { Webhooks } from "./webhooks";
import "../lib/styles.css";

/** The admin console: one tab per panel file in this folder. */
const TABS = [
  { id: "overview", label: "Overview" },
  { id: "rewards", label: "Approval queue" },
  { id: "minting", label: "Minting" },
  { id: "settlements", label: "Settlements & payouts" },
  { id: "programs", label: "Coupons & tiers" },
  { id: "reconcile", label: "Reconciliation" },
  { id: "webhooks", label: "Webhooks" },
  { id: "audit", label: "Audit log" },
];

function App() {
  return (
    <AuthGate
      surface="admin"
      title="Admin console"
      credential="Admin API key"
      placeholder="tw_…"
      hint={
        <>
          Create one with <code>twinrail keys create --role admin</code>. In demo mode <code>npm start</code>{" "}
          prints a ready-to-click link.
        </>
      }
    >
      {(signOut) => <Console signOut={signOut} />}
    </AuthGate>
  );
}

function Console(props: { signOut: () => void }) {
  const tab = useHashTab(TABS);
  const toasts = useToasts();
  return (
    <Shell surface="Admin" tabs={TABS} active={tab} onSignOut={props.signOut}>
      {tab === "overview" ? <Overview /> : null}
      {tab === "rewards" ? <RewardsQueue toast={toasts.push} /> : null}
      {tab === "minting" ? <Minting toast={toasts.push} /> : null}
      {tab === "settlements" ? <Settlements toast={toasts.push} /> : null}
      {tab === "programs" ? <Programs toast={toasts.push} /> : null}
      {tab === "reconcile" ? <Reconcile /> : null}
      {tab === "webhooks" ? <Webhooks toast={toasts.push} /> : null}
      {tab === "audit" ? <Audit /> : null}
      <Toasts items={toasts.items} onDismiss={toasts.dismiss} />
    </Shell>
  );
}

render(<App />, document.getElementById("app")!);
