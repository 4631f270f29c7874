// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

// Makes Hardhat compile OpenZeppelin's ERC1967Proxy so tests, scripts and the generated viem bindings
// can deploy `ReferralRewards` behind it without the hardhat-upgrades plugin.
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
