// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {PausableUpgradeable} from "@openzeppelin/contracts-upgradeable/utils/PausableUpgradeable.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @dev The only function of `RewardToken` this contract needs.
interface IRewardTokenMinterV2 {
    function mint(address to, uint256 amount) external;
}

/**
 * @title ReferralRewardsV2
 * @notice `ReferralRewards` (v1, same storage namespace, same payment semantics) plus approvals the chain
 * verifies: with `approvalsRequired` on, a payout is minted only inside `payReferralBatchApproved`, whose
 * batch an address holding `APPROVER_ROLE` signed as EIP-712 typed data
 * `PayoutBatch(Payout[] payouts,uint64 batchId,uint64 deadline)`. The operator key alone can then only
 * submit what an approver signed, exactly as signed (same items, same order, same batch id). An approver
 * may be an externally owned account (ECDSA) or a contract wallet such as a Safe (ERC-1271), through
 * OpenZeppelin's `SignatureChecker`. Each approval is used once: again, it reverts `ApprovalReplayed`.
 *
 * With `approvalsRequired` off (the state right after an upgrade from v1) the v1 entry points work as
 * before, so a deployment can upgrade first and let the admin switch approvals on later.
 *
 * See `ReferralRewards` (v1) for caps, `paidOrders` and the batch semantics; they are unchanged.
 * Storage: v1's ERC-7201 namespace with two fields appended (`approvalsRequired`, `usedApprovals`), plus
 * OpenZeppelin's own EIP712 namespace, initialized by `initializeV2` on upgrade.
 */
contract ReferralRewardsV2 is
    Initializable,
    AccessControlUpgradeable,
    PausableUpgradeable,
    EIP712Upgradeable,
    UUPSUpgradeable
{
    /// @notice One reward: `amount` wei of tokens to `to` for the order whose reference hashes to `orderRef`.
    struct Payout {
        bytes32 orderRef;
        address to;
        uint256 amount;
    }

    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Signs payout batches (EIP-712); never the operator's key.
    bytes32 public constant APPROVER_ROLE = keccak256("APPROVER_ROLE");

    /// @notice EIP-712 type of one payout, as it appears inside `PayoutBatch`.
    bytes32 public constant PAYOUT_TYPEHASH = keccak256("Payout(bytes32 orderRef,address to,uint256 amount)");
    /// @notice EIP-712 type of an approval: the exact batch the operator may submit, until `deadline`.
    bytes32 public constant PAYOUT_BATCH_TYPEHASH = keccak256(
        "PayoutBatch(Payout[] payouts,uint64 batchId,uint64 deadline)Payout(bytes32 orderRef,address to,uint256 amount)"
    );
    string private constant EIP712_NAME = "Twinrail ReferralRewards";
    string private constant EIP712_VERSION = "2";

    /// @notice Bit 255 of a `paidOrders` word: set for every paid order, so the word is never 0 once paid.
    uint256 public constant PAID_FLAG = 1 << 255;

    /// @custom:storage-location erc7201:twinrail.storage.ReferralRewards
    struct ReferralRewardsStorage {
        mapping(bytes32 orderRef => uint256 paidWord) paidOrders;
        // One slot: read together on every payment.
        address token;
        uint64 periodLength;
        // One slot: the mint counter of the period `periodIndex`, rewritten once per payment transaction.
        uint64 periodIndex;
        uint192 mintedInPeriod;
        uint256 periodCap;
        uint256 maxPayout;
        // ---- v2 (appended; the fields above keep their v1 slots)
        // On: payouts need an approver's signature (`payReferralBatchApproved`); off: v1 behaviour.
        bool approvalsRequired;
        // EIP-712 digests of the approvals used: each approval pays once.
        mapping(bytes32 digest => bool used) usedApprovals;
    }

    // keccak256(abi.encode(uint256(keccak256("twinrail.storage.ReferralRewards")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION = 0x3cc0539b9c0f227546941538baa22fe597046c99ff572d16f80961b20987e900;

    /// @notice `orderRef` was paid before; `payReferral` refuses to pay it again.
    error AlreadyPaid(bytes32 orderRef);
    /// @notice The payout for `orderRef` has a zero recipient or a zero amount.
    error InvalidPayout(bytes32 orderRef);
    /// @notice The payout for `orderRef` is above the per-payout maximum `max`.
    error PayoutTooLarge(bytes32 orderRef, uint256 amount, uint256 max);
    /// @notice Paying `requested` wei now would exceed the period cap; only `remaining` wei are left.
    error PeriodCapExceeded(uint256 requested, uint256 remaining);
    /// @notice `initialize` got the zero address for the admin or the token.
    error ZeroAddress();
    /// @notice A period length of 0 seconds was given.
    error InvalidPeriodLength();
    /// @notice Approvals are required: pay through `payReferralBatchApproved` with an approver's signature.
    error ApprovalRequired();
    /// @notice The approval's `deadline` (Unix seconds) has passed.
    error ApprovalExpired(uint64 deadline);
    /// @notice The approval with EIP-712 digest `digest` was used before.
    error ApprovalReplayed(bytes32 digest);
    /// @notice The signature is not `approver`'s over this exact batch (other items, order, id or deadline).
    error InvalidApproval(address approver);
    /// @notice `approver` does not hold `APPROVER_ROLE`.
    error NotApprover(address approver);

    /// @notice `orderRef` was paid: `amount` wei minted to `to`, in batch `batchId` (0 for `payReferral`).
    event ReferralPaid(bytes32 indexed orderRef, address indexed to, uint256 amount, uint64 batchId);
    /// @notice `orderRef` in batch `batchId` was already paid (earlier, or earlier in the same batch); nothing minted.
    event ReferralSkipped(bytes32 indexed orderRef, uint64 indexed batchId);
    /// @notice The period mint cap (0 = unlimited) and the period length in seconds were set.
    event MintCapUpdated(uint256 periodCap, uint64 periodLength);
    /// @notice The per-payout maximum (0 = unlimited) was set.
    event MaxPayoutUpdated(uint256 maxPayout);
    /// @notice The token this contract mints was set (once, at initialization).
    event RewardTokenSet(address indexed token);
    /// @notice Approvals were switched on (`payReferral`/`payReferralBatch` revert) or off (v1 behaviour).
    event ApprovalsRequiredSet(bool required);
    /// @notice Batch `batchId` was submitted with `approver`'s approval.
    event BatchApproved(uint64 indexed batchId, address indexed approver);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /**
     * @notice Sets up the proxy. `admin` gets `DEFAULT_ADMIN_ROLE` and `PAUSER_ROLE`; `operator` (unless the
     * zero address) gets `OPERATOR_ROLE`. This contract must also be granted `MINTER_ROLE` on `token`.
     */
    function initialize(
        address admin,
        address operator,
        address token_,
        uint256 periodCap_,
        uint64 periodLength_,
        uint256 maxPayout_
    ) external initializer {
        if (admin == address(0) || token_ == address(0)) revert ZeroAddress();
        __AccessControl_init();
        __Pausable_init();
        __EIP712_init(EIP712_NAME, EIP712_VERSION);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        if (operator != address(0)) _grantRole(OPERATOR_ROLE, operator);

        ReferralRewardsStorage storage $ = _getStorage();
        $.token = token_;
        emit RewardTokenSet(token_);
        _setMintCap($, periodCap_, periodLength_);
        _setMaxPayout($, maxPayout_);
    }

    /**
     * @notice The v1 → v2 migration, called by the admin through `upgradeToAndCall`: sets up the EIP-712
     * domain. Approvals stay off until `setApprovalsRequired(true)`. Reverts on a proxy that already has it.
     */
    function initializeV2() external reinitializer(2) onlyRole(DEFAULT_ADMIN_ROLE) {
        // A proxy initialized as v2 has its domain already.
        if (bytes(_EIP712Name()).length != 0) revert InvalidInitialization();
        __EIP712_init(EIP712_NAME, EIP712_VERSION);
    }

    // ---------------------------------------------------------------- paying

    /**
     * @notice Pays one reward, recorded with batch id 0. Reverts `AlreadyPaid` if `orderRef` was paid,
     * `InvalidPayout` / `PayoutTooLarge` for a bad item, `PeriodCapExceeded` past the period cap.
     */
    function payReferral(bytes32 orderRef, address to, uint256 amount)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
    {
        ReferralRewardsStorage storage $ = _getStorage();
        if ($.approvalsRequired) revert ApprovalRequired();
        if ($.paidOrders[orderRef] != 0) revert AlreadyPaid(orderRef);
        _checkPayout(orderRef, to, amount, _effectiveMaxPayout($));

        $.paidOrders[orderRef] = _paidWord(0);
        emit ReferralPaid(orderRef, to, amount, 0);
        _consumePeriodCap($, amount);

        IRewardTokenMinterV2($.token).mint(to, amount);
    }

    /**
     * @notice Pays a batch as v1 does, while approvals are off; reverts `ApprovalRequired` once they are on.
     * Items already paid (before, or earlier in this batch) are skipped with `ReferralSkipped`; consecutive
     * paid items to the same recipient are minted as one transfer, so the caller should sort by recipient.
     * An invalid unpaid item reverts the whole batch with its own error (`InvalidPayout` / `PayoutTooLarge`)
     * so the caller can bisect to it; so does the period cap.
     * @return paidCount number of items paid now.
     * @return paidAmount wei minted now.
     */
    function payReferralBatch(Payout[] calldata payouts, uint64 batchId)
        external
        onlyRole(OPERATOR_ROLE)
        whenNotPaused
        returns (uint256 paidCount, uint256 paidAmount)
    {
        if (_getStorage().approvalsRequired) revert ApprovalRequired();
        return _payBatch(payouts, batchId);
    }

    /**
     * @notice Pays a batch that `approver` signed: EIP-712 `PayoutBatch(payouts, batchId, deadline)` over
     * exactly these items in this order. Works whether or not approvals are required. Reverts
     * `ApprovalExpired` after `deadline`, `ApprovalReplayed` if this approval was used before,
     * `NotApprover` unless `approver` holds `APPROVER_ROLE`, `InvalidApproval` if the signature does not
     * verify (ECDSA for an account, ERC-1271 for a contract). Then as `payReferralBatch`.
     */
    function payReferralBatchApproved(
        Payout[] calldata payouts,
        uint64 batchId,
        uint64 deadline,
        address approver,
        bytes calldata signature
    ) external onlyRole(OPERATOR_ROLE) whenNotPaused returns (uint256 paidCount, uint256 paidAmount) {
        if (block.timestamp > deadline) revert ApprovalExpired(deadline);
        if (!hasRole(APPROVER_ROLE, approver)) revert NotApprover(approver);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(PAYOUT_BATCH_TYPEHASH, _hashPayouts(payouts), batchId, deadline))
        );
        ReferralRewardsStorage storage $ = _getStorage();
        if ($.usedApprovals[digest]) revert ApprovalReplayed(digest);
        $.usedApprovals[digest] = true;
        if (!SignatureChecker.isValidSignatureNow(approver, digest, signature)) revert InvalidApproval(approver);
        emit BatchApproved(batchId, approver);
        return _payBatch(payouts, batchId);
    }

    /// @notice The EIP-712 digest an approver signs for `PayoutBatch(payouts, batchId, deadline)`.
    function approvalDigest(Payout[] calldata payouts, uint64 batchId, uint64 deadline)
        external
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(PAYOUT_BATCH_TYPEHASH, _hashPayouts(payouts), batchId, deadline))
        );
    }

    // ---------------------------------------------------------------- admin

    /**
     * @notice Sets the period mint cap (0 = unlimited) and the period length in seconds (> 0). The wei
     * already minted in the current period still count: they carry over into the current window of the
     * new length.
     */
    function setMintCap(uint256 periodCap_, uint64 periodLength_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMintCap(_getStorage(), periodCap_, periodLength_);
    }

    /// @notice Sets the per-payout maximum in wei (0 = unlimited).
    function setMaxPayout(uint256 maxPayout_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMaxPayout(_getStorage(), maxPayout_);
    }

    /// @notice Switches approvals on (only `payReferralBatchApproved` pays) or off (v1 behaviour).
    function setApprovalsRequired(bool required) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _getStorage().approvalsRequired = required;
        emit ApprovalsRequiredSet(required);
    }

    /// @notice Stops all payment paths until `unpause`.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @notice 0 if `orderRef` is unpaid, else the packed word described in `decodePaid`.
    function paidOrders(bytes32 orderRef) external view returns (uint256) {
        return _getStorage().paidOrders[orderRef];
    }

    /**
     * @notice Unpacks a `paidOrders` word: bit 255 is the paid flag, bits 64..127 the block number of the
     * payment, bits 0..63 the batch id (0 for `payReferral`).
     */
    function decodePaid(uint256 word) public pure returns (bool paid, uint64 batchId, uint64 blockNumber) {
        paid = word & PAID_FLAG != 0;
        batchId = uint64(word);
        blockNumber = uint64(word >> 64);
    }

    /// @notice `decodePaid(paidOrders(orderRef))`.
    function paidInfo(bytes32 orderRef) external view returns (bool paid, uint64 batchId, uint64 blockNumber) {
        return decodePaid(_getStorage().paidOrders[orderRef]);
    }

    /// @notice Whether payouts need an approver's signature.
    function approvalsRequired() external view returns (bool) {
        return _getStorage().approvalsRequired;
    }

    /// @notice Whether the approval with EIP-712 digest `digest` (see `approvalDigest`) was used.
    function approvalUsed(bytes32 digest) external view returns (bool) {
        return _getStorage().usedApprovals[digest];
    }

    /// @notice The reward token this contract mints.
    function token() external view returns (address) {
        return _getStorage().token;
    }

    /// @notice Most wei mintable per period; 0 means unlimited.
    function periodCap() external view returns (uint256) {
        return _getStorage().periodCap;
    }

    /// @notice Period length in seconds.
    function periodLength() external view returns (uint64) {
        return _getStorage().periodLength;
    }

    /// @notice Largest single payout in wei; 0 means unlimited.
    function maxPayout() external view returns (uint256) {
        return _getStorage().maxPayout;
    }

    /// @notice Wei minted so far in the period containing `block.timestamp`.
    function mintedInCurrentPeriod() public view returns (uint256) {
        return _mintedInCurrentPeriod(_getStorage());
    }

    /// @notice Wei still mintable in the current period; `type(uint256).max` when the cap is unlimited.
    function remainingInCurrentPeriod() external view returns (uint256) {
        ReferralRewardsStorage storage $ = _getStorage();
        uint256 cap = $.periodCap;
        if (cap == 0) return type(uint256).max;
        uint256 minted = _mintedInCurrentPeriod($);
        return cap > minted ? cap - minted : 0;
    }

    // ---------------------------------------------------------------- internals

    /// @dev v1's `payReferralBatch` body, unchanged.
    function _payBatch(Payout[] calldata payouts, uint64 batchId)
        private
        returns (uint256 paidCount, uint256 paidAmount)
    {
        // No cached storage pointer here: the loop below already fills the stack.
        uint256 max = _effectiveMaxPayout(_getStorage());

        // Runs of consecutive paid items to one recipient, as (recipient, total) word pairs in memory reserved
        // here; they are minted only after every check and effect (checks-effects-interactions).
        uint256 runsStart;
        uint256 runsEnd;
        assembly ("memory-safe") {
            runsStart := mload(0x40)
            runsEnd := runsStart
            mstore(0x40, add(runsStart, shl(6, payouts.length))) // at most one 64-byte run per item
        }

        for (uint256 i; i < payouts.length; ) {
            bytes32 orderRef;
            address to;
            uint256 amount;
            uint256 paidBefore;
            assembly ("memory-safe") {
                // payouts[i], read straight from calldata: the ABI decoder has checked that the array fits.
                let item := add(payouts.offset, mul(i, 0x60))
                orderRef := calldataload(item)
                to := calldataload(add(item, 0x20))
                amount := calldataload(add(item, 0x40))
                // Refuse a non-canonical address encoding, as the ABI decoder would.
                if shr(160, to) {
                    revert(0, 0)
                }
                // paidOrders[orderRef] (the mapping is the namespace's first field), hashed once for the read
                // and the claim. Claiming before the checks below is safe: a failed check reverts everything.
                mstore(0x00, orderRef)
                mstore(0x20, STORAGE_LOCATION)
                let slot := keccak256(0x00, 0x40)
                paidBefore := sload(slot)
                if iszero(paidBefore) {
                    // The packed word of `_paidWord(batchId)`, inlined: one variable fewer on a full stack.
                    sstore(slot, or(PAID_FLAG, or(shl(64, number()), batchId)))
                }
            }
            if (paidBefore != 0) {
                emit ReferralSkipped(orderRef, batchId);
            } else {
                _checkPayout(orderRef, to, amount, max);
                emit ReferralPaid(orderRef, to, amount, batchId);
                paidAmount += amount;
                unchecked {
                    // paidCount <= number of items.
                    ++paidCount;
                }
                assembly ("memory-safe") {
                    // Extend the open run when it has the same recipient, else open a new one. The unchecked
                    // `add` cannot overflow: a run total is a partial sum of paidAmount, whose addition is checked.
                    switch and(gt(runsEnd, runsStart), eq(mload(sub(runsEnd, 0x40)), to))
                    case 1 {
                        let total := sub(runsEnd, 0x20)
                        mstore(total, add(mload(total), amount))
                    }
                    default {
                        mstore(runsEnd, to)
                        mstore(add(runsEnd, 0x20), amount)
                        runsEnd := add(runsEnd, 0x40)
                    }
                }
            }
            unchecked {
                // i < payouts.length, far below 2^256.
                ++i;
            }
        }

        if (paidAmount != 0) {
            ReferralRewardsStorage storage $ = _getStorage();
            _consumePeriodCap($, paidAmount);
            IRewardTokenMinterV2 token_ = IRewardTokenMinterV2($.token);
            for (uint256 run = runsStart; run < runsEnd; ) {
                address to;
                uint256 amount;
                assembly ("memory-safe") {
                    to := mload(run)
                    amount := mload(add(run, 0x20))
                }
                token_.mint(to, amount);
                unchecked {
                    // run < runsEnd, a memory offset.
                    run += 0x40;
                }
            }
        }
    }

    /// @dev EIP-712 `encodeData` of `Payout[]`: keccak256 of the concatenated `hashStruct` of each item.
    function _hashPayouts(Payout[] calldata payouts) private pure returns (bytes32 result) {
        bytes32 typeHash = PAYOUT_TYPEHASH;
        assembly ("memory-safe") {
            let n := payouts.length
            let hashes := mload(0x40)
            let scratch := add(hashes, shl(5, n))
            mstore(scratch, typeHash)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                // (orderRef, to, amount) is 96 contiguous calldata bytes, as in `_payBatch`.
                calldatacopy(add(scratch, 0x20), add(payouts.offset, mul(i, 0x60)), 0x60)
                mstore(add(hashes, shl(5, i)), keccak256(scratch, 0x80))
            }
            result := keccak256(hashes, shl(5, n))
        }
    }


    function _authorizeUpgrade(address) internal override onlyRole(DEFAULT_ADMIN_ROLE) {}

    function _getStorage() private pure returns (ReferralRewardsStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }

    function _paidWord(uint64 batchId) private view returns (uint256) {
        return PAID_FLAG | (block.number << 64) | batchId;
    }

    function _effectiveMaxPayout(ReferralRewardsStorage storage $) private view returns (uint256) {
        uint256 max = $.maxPayout;
        return max == 0 ? type(uint256).max : max;
    }

    function _checkPayout(bytes32 orderRef, address to, uint256 amount, uint256 max) private pure {
        if (to == address(0) || amount == 0) revert InvalidPayout(orderRef);
        if (amount > max) revert PayoutTooLarge(orderRef, amount, max);
    }

    function _mintedInCurrentPeriod(ReferralRewardsStorage storage $) private view returns (uint256) {
        return $.periodIndex == block.timestamp / $.periodLength ? $.mintedInPeriod : 0;
    }

    /// @dev Adds `amount` to the current period's counter, reverting past the cap. The counter is 192 bits:
    /// one period minting 2^192 wei or more reverts even with an unlimited cap.
    function _consumePeriodCap(ReferralRewardsStorage storage $, uint256 amount) private {
        uint64 index = uint64(block.timestamp / $.periodLength);
        uint256 minted = $.periodIndex == index ? $.mintedInPeriod : 0;
        uint256 total = minted + amount;
        uint256 cap = $.periodCap;
        if (cap != 0 && total > cap) revert PeriodCapExceeded(amount, cap > minted ? cap - minted : 0);
        $.periodIndex = index;
        $.mintedInPeriod = SafeCast.toUint192(total);
    }

    function _setMintCap(ReferralRewardsStorage storage $, uint256 periodCap_, uint64 periodLength_) private {
        if (periodLength_ == 0) revert InvalidPeriodLength();
        // Read the counter under the old length before re-stamping it with the new window's index.
        uint256 minted = $.periodLength == 0 ? 0 : _mintedInCurrentPeriod($);
        $.periodCap = periodCap_;
        $.periodLength = periodLength_;
        $.periodIndex = uint64(block.timestamp / periodLength_);
        $.mintedInPeriod = uint192(minted);
        emit MintCapUpdated(periodCap_, periodLength_);
    }

    function _setMaxPayout(ReferralRewardsStorage storage $, uint256 maxPayout_) private {
        $.maxPayout = maxPayout_;
        emit MaxPayoutUpdated(maxPayout_);
    }
}
