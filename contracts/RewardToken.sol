// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/**
 * @title RewardToken
 * @notice The Twinrail referral reward token (Rail B). Plain ERC-20 with EIP-2612 permit; supply only
 * grows through `mint`, and only holders of `MINTER_ROLE` (in production: the `ReferralRewards` proxy
 * alone) may call it. The admin manages roles and nothing else.
 */
contract RewardToken is ERC20, ERC20Permit, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @dev Thrown by the constructor when `admin` is the zero address (nobody could ever grant a minter).
    error RewardTokenZeroAdmin();

    constructor(string memory name_, string memory symbol_, address admin) ERC20(name_, symbol_) ERC20Permit(name_) {
        if (admin == address(0)) revert RewardTokenZeroAdmin();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Mints `amount` wei of tokens to `to`. Emits `Transfer(address(0), to, amount)`.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }
}
