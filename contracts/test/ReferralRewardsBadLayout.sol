// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";

/// @dev Test-only: a v2 that inserts a field into the middle of v1's namespace. The layout test shows that
/// OpenZeppelin's upgrades-core rejects it, so its acceptance of ReferralRewardsV2 means something.
contract ReferralRewardsBadLayout is AccessControlUpgradeable, UUPSUpgradeable {
    /// @custom:storage-location erc7201:twinrail.storage.ReferralRewards
    struct ReferralRewardsStorage {
        mapping(bytes32 orderRef => uint256 paidWord) paidOrders;
        address token;
        uint64 periodLength;
        uint64 periodIndex;
        uint192 mintedInPeriod;
        bool approvalsRequired;
        uint256 periodCap;
        uint256 maxPayout;
    }

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    function _authorizeUpgrade(address) internal override onlyRole(DEFAULT_ADMIN_ROLE) {}
}
