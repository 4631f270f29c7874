import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import QRCode from "qrcode";
import { api } from "../lib/api";
import { BarChart, lastDays } from "../lib/chart";
import { count, date, money, shortHash, tokens } from "../lib/format";
import { useApi } from "../lib/resource";
import type { Me, MemberReward, Page } from "../lib/types";
import {
  AuthGate,
  CopyButton,
  Empty,
  ErrorNote,
  Loading,
  Section,
  Shell,
  Stat,
  StatusBadge,
} from "../lib/ui";
import { Program } from "./program";
import "../lib/styles.css";

function App() {
  return (
    <AuthGate
      surface="referrer"
      title="Your referrals"
      credential="Member token"
      placeholder="eyJhbGciOiJIUzI1NiIs…"
      hint="The store you refer for signs you in with a member token. Open the dashboard from your account there, or paste the token."
    >
      {(signOut) => <Dashboard signOut={signOut} />}
    </AuthGate>
  );
}

type Daily = Array<{ day: string; visits: number }>;

/** `visits.daily` from `/v1/me`: the last 28 UTC days that had visits. */
function dailyOf(me: Me): Map<string, number> | null {
  const raw = (me.visits as { daily?: Daily }).daily;
  if (!Array.isArray(raw)) return null;
  return new Map(raw.map((row) => [row.day, row.visits]));
}

function QrCode(props: { text: string }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    QRCode.toDataURL(props.text, {
      margin: 1,
      width: 176,
      color: { dark: "#1b2133", light: "#ffffff" },
    }).then(setSrc, () => setSrc(null));
  }, [props.text]);
  return src ? (
    <img class="qr" src={src} width={176} height={176} alt={`QR code for ${props.text}`} data-testid="qr" />
  ) : (
    <div class="qr" />
  );
}

function Dashboard(props: { signOut: () => void }) {
  const me = useApi<Me>("/v1/me");
  const rewards = useApi<Page<MemberReward>>("/v1/me/rewards");
  const [more, setMore] = useState<MemberReward[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const history = [...(rewards.data?.items ?? []), ...more];
  const nextCursor = cursor === undefined ? rewards.data?.nextCursor : cursor;

  const chart = useMemo(() => {
    if (!me.data) return null;
    const daily = dailyOf(me.data);
    if (!daily) return null;
    const x = lastDays(28);
    return {
      x,
      series: [
        {
          label: "Visits",
          color: "#3b4fd8",
          values: x.map((day) => daily.get(new Date(day * 1000).toISOString().slice(0, 10)) ?? 0),
          format: (value: number) => String(Math.round(value)),
        },
      ],
    };
  }, [me.data]);

  if (me.error) {
    return (
      <Shell surface="Referrer" onSignOut={props.signOut}>
        <ErrorNote error={me.error} what="Your referral summary" />
      </Shell>
    );
  }
  if (!me.data) {
    return (
      <Shell surface="Referrer" onSignOut={props.signOut}>
        <Loading />
      </Shell>
    );
  }
  const data = me.data;
  const waiting = data.rewards.pendingApproval + data.rewards.approved;
  const debt = BigInt(data.clawbackDebtWei || "0");

  return (
    <Shell surface="Referrer" subtitle={data.displayName ?? data.memberId} onSignOut={props.signOut}>
      {!data.wallet && (waiting > 0 || history.length > 0) ? (
        <div class="alert alert-warn" role="status" data-testid="wallet-prompt">
          <strong>Add a wallet to receive your tokens.</strong> {waiting} reward
          {waiting === 1 ? " is" : "s are"} waiting for a wallet address. Add one in your account settings at
          the store; rewards are minted to it as soon as it is set.
        </div>
      ) : null}
      {debt > 0n ? (
        <div class="alert alert-error" role="status" data-testid="clawback">
          <strong>Clawback debt: {tokens(debt)}.</strong> An order you referred was refunded after its reward
          was minted. The amount is deducted from your next rewards; nothing else is needed from you.
        </div>
      ) : null}
      <div class="grid-2">
        <Section title="Your link" id="share">
          {data.code && data.shareUrl ? (
            <div class="share">
              <div class="share-text">
                <p class="muted small">Referral code</p>
                <p class="code" data-testid="code">
                  {data.code}
                </p>
                <p class="muted small">Share link</p>
                <p class="share-url">
                  <a href={data.shareUrl} data-testid="share-url">
                    {data.shareUrl}
                  </a>
                </p>
                <p class="row">
                  <CopyButton text={data.shareUrl} label="Copy link" />
                  <CopyButton text={data.code} label="Copy code" />
                </p>
                <p class="muted small">
                  Anyone who opens this link and buys within the attribution window counts as referred by you.
                </p>
              </div>
              <QrCode text={data.shareUrl} />
            </div>
          ) : (
            <Empty>
              You have no active referral code yet. The store issues one when you join the programme.
            </Empty>
          )}
        </Section>
        <Section title="Visits" id="visits">
          <div class="stats stats-3">
            <Stat label="Today" value={count(data.visits.today)} testid="visits-today" />
            <Stat label="7 days" value={count(data.visits.last7d)} />
            <Stat label="28 days" value={count(data.visits.last28d)} />
          </div>
          {chart ? (
            <BarChart
              x={chart.x}
              series={chart.series}
              height={160}
              axisSize={40}
              label="Visits per day, last 28 days"
            />
          ) : (
            <p class="muted small">
              {count(data.visits.total)} visit{data.visits.total === 1 ? "" : "s"} since the start.
            </p>
          )}
        </Section>
      </div>
      <Program />
      <div class="stats">
        <Stat label="Signups" value={count(data.signups)} hint="people who joined via your link" />
        <Stat label="Conversions" value={count(data.conversions)} hint="paid orders you referred" />
        <Stat label="Awaiting approval" value={count(data.rewards.pendingApproval)} />
        <Stat label="Approved, minting soon" value={count(data.rewards.approved)} />
        <Stat
          label="Minted"
          value={tokens(data.rewards.totalMintedWei)}
          hint={`${data.rewards.minted} reward(s)`}
          testid="minted-total"
        />
      </div>
      <Section title="Reward history" id="history">
        {rewards.error ? <ErrorNote error={rewards.error} what="Your reward history" /> : null}
        {!rewards.data && !rewards.error ? <Loading /> : null}
        {rewards.data && history.length === 0 ? (
          <Empty>No rewards yet. Share your link to earn your first one.</Empty>
        ) : null}
        {history.length ? (
          <div class="table-wrap">
            <table class="data" data-testid="rewards-table">
              <thead>
                <tr>
                  <th>Date</th>
                  <th>Order</th>
                  <th class="num">Amount</th>
                  <th class="num">Based on commission</th>
                  <th>Status</th>
                  <th>Transaction</th>
                </tr>
              </thead>
              <tbody>
                {history.map((reward) => (
                  <tr key={reward.id} data-order={reward.orderReference}>
                    <td class="nowrap">{date(reward.createdAt)}</td>
                    <td class="mono">{reward.orderReference}</td>
                    <td class="num" title={`${reward.amountWei} wei`}>
                      <strong>{tokens(reward.amountWei)}</strong>
                    </td>
                    <td class="num">{money(reward.fiatBasis, reward.currency)}</td>
                    <td>
                      <StatusBadge status={reward.status} />
                    </td>
                    <td>
                      {reward.txHash ? (
                        <a
                          class="hash"
                          href={`/tx/#${reward.txHash}`}
                          title={reward.txHash}
                          data-testid="tx-link"
                        >
                          {shortHash(reward.txHash)}
                        </a>
                      ) : (
                        <span class="muted">{reward.status === "minted" ? "—" : "not minted yet"}</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        {nextCursor ? (
          <p>
            <button
              type="button"
              class="btn"
              onClick={async () => {
                const page = await api<Page<MemberReward>>("/v1/me/rewards", {
                  query: { cursor: nextCursor },
                });
                setMore((current) => [...current, ...page.items]);
                setCursor(page.nextCursor ?? null);
              }}
            >
              Load more
            </button>
          </p>
        ) : null}
      </Section>
    </Shell>
  );
}

render(<App />, document.getElementById("app")!);
