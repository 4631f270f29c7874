// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {ReferralRewards} from "../ReferralRewards.sol";

/// @dev Test-only upgrade target: the v1 logic plus a marker, to prove upgrades keep `paidOrders`.
contract ReferralRewardsMarker is ReferralRewards {
    function version() external pure returns (string memory) {
        return "2";
    }
}
